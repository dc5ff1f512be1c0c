"""Bring-your-own-data readers: tables, picture folders and text files become Datasets the models can take."""
import warnings

import numpy as np
import pandas as pd
import pytest
import skimage.data
import skimage.io
import torch

from unboxed.errors import InputError
from unboxed.loading.data import load_data
from unboxed.loading.images import read_image_folder
from unboxed.loading.tables import read_table
from unboxed.loading.texts import read_texts

FRAME = pd.DataFrame({
    "id": ["a", "b", "c", "d", "e", "f"],
    "income": [3.5, 2.0, 4.5, 1.0, 2.5, 3.0],
    "city": ["Kiel", "Bonn", "Kiel", "Aachen", "Bonn", "Kiel"],
    "children": [0, 2, 1, 3, 0, 1],
    "paid": ["yes", "no", "yes", "no", "no", "yes"],
})


def _csv(tmp_path, frame=FRAME, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# ---------- tables


def test_csv_tsv_and_parquet_of_one_frame_give_identical_datasets(tmp_path):
    FRAME.to_parquet(tmp_path / "data.parquet")
    FRAME.to_csv(tmp_path / "data.tsv", sep="\t", index=False)
    read = [read_table(p, target="paid", id_column="id") for p in (_csv(tmp_path), tmp_path / "data.parquet", tmp_path / "data.tsv")]
    for other in read[1:]:
        assert torch.equal(read[0].inputs, other.inputs) and read[0].inputs.dtype == torch.float32
        assert torch.equal(read[0].labels, other.labels)
        for field in ("feature_names", "class_names", "sample_names", "categories", "target_name", "skipped"):
            assert getattr(read[0], field) == getattr(other, field), field
    assert read[0].feature_names == ["income", "city", "children"] and read[0].sample_names == list("abcdef")


def test_category_codes_round_trip_to_the_values(tmp_path):
    data = read_table(_csv(tmp_path), target="paid", id_column="id", categorical=["city", "children"])
    assert data.categories == {"city": ["Aachen", "Bonn", "Kiel"], "children": ["0", "1", "2", "3"]}
    for column in ("city", "children"):
        codes = data.inputs[:, data.feature_names.index(column)].long().tolist()
        names = [data.categories[column][code] for code in codes]
        assert names == FRAME[column].astype(str).tolist()  # code -> name is the file's value
        assert [data.categories[column].index(name) for name in names] == codes  # name -> code
    assert [data.class_names[label] for label in data.labels] == FRAME["paid"].tolist()


def test_fixed_categories_give_the_models_codes_and_refuse_unseen_values(tmp_path):
    model_categories = ["Kiel", "Bonn", "Aachen", "Berlin"]  # the training order, with a value absent here
    data = read_table(_csv(tmp_path), target="paid", categories={"city": model_categories})
    codes = data.inputs[:, data.feature_names.index("city")].long().tolist()
    assert codes == [model_categories.index(city) for city in FRAME["city"]]
    assert data.categories["city"] == model_categories
    with pytest.raises(InputError, match=r"'city' holds 'Aachen'.*not among its categories"):
        read_table(_csv(tmp_path), target="paid", categories={"city": ["Kiel", "Bonn"]})


def test_column_errors_name_the_column(tmp_path):
    path = _csv(tmp_path)
    with pytest.raises(InputError, match="no target column 'label'; columns: id, income, city, children, paid"):
        read_table(path, target="label")
    with pytest.raises(InputError, match="lacks the feature column.*'salary'"):
        read_table(path, target="paid", features=["income", "salary"])
    with pytest.raises(InputError, match="'city' is not numeric.*categorical="):
        read_table(path, target="paid", id_column="id", categorical=[])
    data = read_table(path, target="paid", features=["children", "income"])  # the model's order, not the file's
    assert data.inputs[:, 0].tolist() == FRAME["children"].tolist()


def test_missing_values_are_refused_by_column_and_count_or_dropped_and_listed(tmp_path):
    frame = FRAME.copy()
    frame.loc[[1, 4], "income"] = np.nan
    path = _csv(tmp_path, frame)
    with pytest.raises(InputError, match=r"2 rows have missing values, in column\(s\) 'income' \(2 rows\).*dropna=True"):
        read_table(path, target="paid")
    data = read_table(path, target="paid", id_column="id", dropna=True)
    assert data.sample_names == ["a", "c", "d", "f"] and len(data) == 4
    assert data.skipped == [f"{path} row 2: missing income", f"{path} row 5: missing income"]
    assert not torch.isnan(data.inputs).any()


def test_classification_or_regression_is_inferred_and_can_be_overridden(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "grade": rng.integers(1, 4, 40), "price": rng.normal(size=40),
                          "age": np.arange(40) + 20})
    path = _csv(tmp_path, frame)
    grade = read_table(path, target="grade", features=["x"])
    assert grade.facts["task"] == "classification" and grade.labels.dtype == torch.long
    assert grade.class_names == ["1", "2", "3"] and grade.labels.tolist() == (frame["grade"] - 1).tolist()
    price = read_table(path, target="price", features=["x"])
    assert price.facts["task"] == "regression" and price.labels.dtype == torch.float32 and price.class_names is None
    assert read_table(path, target="age", features=["x"]).facts["task"] == "regression"  # 40 distinct whole numbers
    assert read_table(path, target="grade", features=["x"], task="regression").labels.is_floating_point()
    with pytest.raises(InputError, match="not numeric"):
        read_table(_csv(tmp_path), target="paid", task="regression")


def test_class_names_fix_the_order_by_value_or_by_index(tmp_path):
    path = _csv(tmp_path)
    by_value = read_table(path, target="paid", class_names=["yes", "no"])
    assert by_value.labels.tolist() == [0 if paid == "yes" else 1 for paid in FRAME["paid"]]
    by_index = read_table(path, target="children", features=["income"], class_names=["none", "one", "two", "three"])
    assert by_index.labels.tolist() == FRAME["children"].tolist() and by_index.class_names[3] == "three"
    with pytest.raises(InputError, match="not among class_names"):
        read_table(path, target="paid", class_names=["yes", "maybe"])


def test_empty_tables_are_refused(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="empty.csv is empty"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(InputError, match="header.csv has no rows"):
        read_table(tmp_path / "header.csv")
    (tmp_path / "semicolons.csv").write_text("a;b\n1;2\n")
    with pytest.raises(InputError, match="sep=';'"):
        read_table(tmp_path / "semicolons.csv")


# ---------- picture folders


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    skimage.io.imsave(path, image, check_contrast=False)


@pytest.fixture
def picture_folder(tmp_path):
    """cat/ (RGB photo, RGBA photo), gray/ (grayscale photo, a notes file, a truncated PNG)."""
    chelsea = skimage.data.chelsea()[::4, ::4]
    _save(tmp_path / "cat" / "chelsea.png", chelsea)
    _save(tmp_path / "cat" / "chelsea_rgba.png", np.dstack([chelsea, np.full(chelsea.shape[:2], 255, np.uint8)]))
    _save(tmp_path / "gray" / "camera.png", skimage.data.camera()[::8, ::8])
    (tmp_path / "gray" / "notes.txt").write_text("not a picture")
    whole = (tmp_path / "cat" / "chelsea.png").read_bytes()
    (tmp_path / "gray" / "broken.png").write_bytes(whole[: len(whole) // 3])
    return tmp_path


def test_folder_reads_good_pictures_labels_from_subfolders_and_lists_bad_files(picture_folder):
    with pytest.warns(UserWarning, match="2 file"):
        data = read_image_folder(picture_folder, size=(40, 50))
    assert data.sample_names == ["cat/chelsea.png", "cat/chelsea_rgba.png", "gray/camera.png"]
    assert data.class_names == ["cat", "gray"] and data.labels.tolist() == [0, 0, 1]
    assert tuple(data.inputs.shape) == (3, 3, 40, 50) and 0 <= data.inputs.min() and data.inputs.max() <= 1
    assert [entry.split(":")[0] for entry in data.skipped] == ["gray/broken.png", "gray/notes.txt"]
    torch.testing.assert_close(data.inputs[0], data.inputs[1])  # opaque RGBA == RGB
    assert torch.equal(data.inputs[2, 0], data.inputs[2, 1])  # grayscale repeated into RGB
    np.testing.assert_array_equal(data.display(data.inputs), data.inputs.permute(0, 2, 3, 1).numpy())


def test_flat_folder_has_no_labels_and_mixed_sizes_need_a_size(tmp_path):
    _save(tmp_path / "a.png", skimage.data.chelsea()[::8, ::8])
    _save(tmp_path / "b.png", skimage.data.coffee()[::8, ::8])
    with pytest.raises(InputError, match="different sizes.*size="):
        read_image_folder(tmp_path)
    data = read_image_folder(tmp_path, size=16)
    assert data.labels is None and data.class_names is None and tuple(data.inputs.shape) == (2, 3, 16, 16)
    (tmp_path / "a.png").write_text("oops")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(InputError, match="no readable picture"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_image_folder(tmp_path)


def test_custom_transform_by_callable_or_import_path_and_display_shows_the_originals(tmp_path):
    image = skimage.data.chelsea()[::10, ::10]
    _save(tmp_path / "chelsea.png", image)
    by_path = read_image_folder(tmp_path, transform="numpy:transpose")  # (h, w, 3) -> (3, w, h)
    by_callable = read_image_folder(tmp_path, transform=lambda picture: np.transpose(picture) * 2 - 1)
    h, w = image.shape[:2]
    assert tuple(by_path.inputs.shape) == (1, 3, w, h)
    torch.testing.assert_close(by_callable.inputs, by_path.inputs * 2 - 1)
    from skimage.transform import resize

    expected = resize(image / 255.0, (w, h), mode="edge", anti_aliasing=True)
    np.testing.assert_allclose(by_callable.display(by_callable.inputs)[0], expected, atol=1e-6)  # not the inverse
    perturbed = by_callable.display(by_callable.inputs + 0.5)  # unknown input: its own channels stretched
    assert perturbed.shape == (1, w, h, 3) and perturbed.min() == 0 and perturbed.max() == 1
    with pytest.raises(InputError, match="cannot import transform"):
        read_image_folder(tmp_path, transform="numpy:no_such_function")
    with pytest.raises(InputError, match="one tensor shape"):
        read_image_folder(tmp_path, transform=lambda picture: picture.mean(axis=2))


def test_digits_preset_matches_the_digits_cnn_input_format(tmp_path, digits):
    from sklearn.datasets import load_digits

    from unboxed.zoo.digits import digits_images
    from unboxed.zoo.training import split

    data = load_digits()
    _, test = split(len(data.target), 0.25, 0, data.target)
    rows = sorted(test[:30])
    for row in rows:  # the 8x8 digits as the user would have them: small 8-bit PNGs in class folders
        _save(tmp_path / str(data.target[row]) / f"{row:04d}.png", np.round(data.images[row] / 16 * 255).astype(np.uint8))
    loaded = read_image_folder(tmp_path, preset="digits")
    order = [int(name.split("/")[1][:4]) for name in loaded.sample_names]
    assert tuple(loaded.inputs.shape) == (30, 1, 32, 32)
    reference, _ = digits_images()
    torch.testing.assert_close(loaded.inputs, reference[order], atol=2.5 / 255, rtol=0)  # 8-bit rounding only
    with torch.no_grad():
        predicted = digits.model(loaded.inputs).argmax(1)
    truth = torch.tensor([int(loaded.class_names[label]) for label in loaded.labels])
    assert (predicted == truth).float().mean() >= 0.8
    assert loaded.display(loaded.inputs).shape == (30, 32, 32, 3)


def test_imagenet_preset_gives_the_zoo_efficientnet_its_inputs(tmp_path, effnet):
    from unboxed.zoo.imagenet import to_display

    _save(tmp_path / "coffee.png", skimage.data.coffee())
    loaded = read_image_folder(tmp_path, preset="imagenet")
    reference = effnet.inputs[:1]  # zoo.load("efficientnet_lite0", photos=("coffee", "chelsea"))
    torch.testing.assert_close(loaded.inputs, reference, atol=1e-5, rtol=0)
    with torch.no_grad():
        top = effnet.model(torch.cat([loaded.inputs, reference])).argmax(1)
    assert top[0] == top[1] and effnet.class_names[int(top[0])] == "espresso"
    np.testing.assert_array_equal(loaded.display(loaded.inputs), to_display(reference))


# ---------- text files and the dispatcher


def test_texts_round_trip_skip_blank_lines_and_align_labels(tmp_path):
    texts = ["a gem of a film", "", "so dull", "   ", "ünïcödé works"]
    (tmp_path / "reviews.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (tmp_path / "per_line.txt").write_text("pos\n\nneg\n\npos\n")
    (tmp_path / "per_text.txt").write_text("pos\nneg\npos\n")
    (tmp_path / "too_few.txt").write_text("pos\nneg\n")
    data = read_texts(tmp_path / "reviews.txt", labels=tmp_path / "per_line.txt")
    assert data.inputs == [text for text in texts if text.strip()] and data.layout == "text"
    assert data.skipped == ["reviews.txt line 2: blank", "reviews.txt line 4: blank"]
    assert data.class_names == ["neg", "pos"] and data.labels.tolist() == [1, 0, 1]
    assert torch.equal(read_texts(tmp_path / "reviews.txt", labels=tmp_path / "per_text.txt").labels, data.labels)
    with pytest.raises(InputError, match="2 labels, but .* has 3 texts on 5 lines"):
        read_texts(tmp_path / "reviews.txt", labels=tmp_path / "too_few.txt")
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(InputError, match="holds no text"):
        read_texts(tmp_path / "blank.txt")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_texts(tmp_path / "latin1.txt")


def test_load_data_dispatches_by_kind_and_refuses_the_rest(tmp_path):
    _save(tmp_path / "pictures" / "coffee.png", skimage.data.coffee()[::10, ::10])
    (tmp_path / "texts.txt").write_text("one\ntwo\n")
    assert load_data(tmp_path / "pictures").layout == "image"
    assert load_data(tmp_path / "texts.txt").inputs == ["one", "two"]
    table = load_data(_csv(tmp_path), target="paid")
    assert table.layout == "tabular" and table.target_name == "paid"
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(InputError, match=r"unboxed reads a folder of pictures, a table \(.csv"):
        load_data(tmp_path / "model.onnx")
    with pytest.raises(InputError, match="no file or folder at"):
        load_data(tmp_path / "nowhere.csv")
    with pytest.raises(InputError, match="option 'preset' does not apply to tables"):
        load_data(_csv(tmp_path), preset="digits")
