"""`unboxed audit --model FILE --data FILE`: every model format audits to the original's predictions,
pickles are refused unless trusted (and nothing in them runs), and bad input is one clear line with exit 2."""
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from unboxed import zoo
from unboxed.cli import app
from unboxed.loading import save_model

QUICK = ["--budget", "32", "--cases", "1", "--methods", "kernel_shap", "--no-sanity", "--no-progress"]


@pytest.fixture(scope="module")
def cancer_files(tmp_path_factory):
    """The breast-cancer MLP's held-out rows as a CSV (features + 'diagnosis'), and the model's outputs on them."""
    folder = tmp_path_factory.mktemp("cancer")
    model = zoo.load("breast_cancer_mlp")
    frame = pd.DataFrame(model.inputs.numpy(), columns=model.feature_names)
    frame["diagnosis"] = model.labels.numpy()
    frame.to_csv(folder / "rows.csv", index=False)
    with torch.no_grad():
        probabilities = torch.softmax(model.model(model.inputs), dim=1).numpy()
    return folder, model, probabilities


def run_audit(*arguments):
    result = CliRunner().invoke(app, ["audit", *map(str, arguments)])
    return result


def audited_probabilities(out) -> np.ndarray:
    table = pd.read_parquet(out / "predictions.parquet")
    return table[[c for c in table.columns if c.startswith("probability")]].to_numpy()


@pytest.mark.parametrize("suffix, trust", [(".onnx", False), (".ts", True), (".pt2", True)])
def test_model_files_audit_to_the_original_predictions(cancer_files, suffix, trust, tmp_path):
    folder, model, probabilities = cancer_files
    path = save_model(model.model, tmp_path / f"cancer{suffix}", example_inputs=model.inputs[:4])
    out = tmp_path / "report"
    result = run_audit("--model", path, "--data", folder / "rows.csv", "--target", "diagnosis", "--out", out,
                       *(["--trust-pickle"] if trust else []), *QUICK)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(audited_probabilities(out), probabilities, atol=1e-5)
    recorded = json.loads((out / "results.json").read_text())
    assert recorded["facts"]["model"]["sha256"]
    if suffix == ".onnx":
        assert "black box" in recorded["facts"]["model"]["access"]  # only output methods: the report says so


def test_import_path_with_safetensors_weights(cancer_files, tmp_path):
    folder, model, probabilities = cancer_files
    save_file({k: v.contiguous() for k, v in model.model.state_dict().items()}, tmp_path / "weights.safetensors")
    out = tmp_path / "report"
    result = run_audit("--model", "unboxed.zoo.breast_cancer:BreastCancerMLP", "--weights", tmp_path / "weights.safetensors",
                       "--data", folder / "rows.csv", "--target", "diagnosis", "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(audited_probabilities(out), probabilities, atol=1e-6)


def test_scikit_learn_model_saved_with_skops(cancer_files, tmp_path):
    from sklearn.linear_model import LogisticRegression

    folder, model, _ = cancer_files
    x, y = model.inputs.numpy(), model.labels.numpy()
    estimator = LogisticRegression(max_iter=500).fit(x, y)
    path = save_model(estimator, tmp_path / "logreg.skops")
    out = tmp_path / "report"
    result = run_audit("--model", path, "--data", folder / "rows.csv", "--target", "diagnosis", "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(audited_probabilities(out), estimator.predict_proba(x), atol=1e-6)


class WritesAFile:
    """Unpickling this writes a marker file: the proof that loading a pickle runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_is_refused_without_trust_and_nothing_in_it_runs(cancer_files, tmp_path):
    folder = cancer_files[0]
    marker = tmp_path / "was-executed"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(WritesAFile(marker)))
    result = run_audit("--model", path, "--data", folder / "rows.csv", "--target", "diagnosis", "--out", tmp_path / "o", *QUICK)
    assert result.exit_code == 2
    assert "--trust-pickle" in result.output and "Traceback" not in result.output
    assert not marker.exists()


def test_a_trusted_joblib_file_audits_with_a_warning(cancer_files, tmp_path):
    import joblib
    from sklearn.linear_model import LogisticRegression

    folder, model, _ = cancer_files
    x, y = model.inputs.numpy(), model.labels.numpy()
    estimator = LogisticRegression(max_iter=500).fit(x, y)
    joblib.dump(estimator, tmp_path / "logreg.joblib")
    out = tmp_path / "report"
    with pytest.warns(UserWarning, match="trust"):
        result = run_audit("--model", tmp_path / "logreg.joblib", "--trust-pickle", "--data", folder / "rows.csv",
                           "--target", "diagnosis", "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(audited_probabilities(out), estimator.predict_proba(x), atol=1e-9)
    assert "--trust-pickle" in (out / "report.html").read_text()  # the report says how it was loaded


def test_images_folder_with_a_bad_file_is_audited_and_the_file_listed(tmp_path):
    from skimage.io import imsave

    digits = zoo.load("digits_cnn")
    folder = tmp_path / "digits"
    folder.mkdir()
    images = (digits.display(digits.inputs[:12])[..., 0] * 255).astype(np.uint8)
    for i, image in enumerate(images):
        imsave(folder / f"digit{i:02d}.png", image, check_contrast=False)
    (folder / "notes.txt").write_text("not a picture")
    save_file({k: v.contiguous() for k, v in digits.model.state_dict().items()}, tmp_path / "digits.safetensors")
    out = tmp_path / "report"
    result = run_audit("--model", "unboxed.zoo.digits:DigitsCNN", "--weights", tmp_path / "digits.safetensors",
                       "--data", folder, "--preset", "digits", "--out", out, "--budget", "16", "--cases", "1",
                       "--methods", "saliency,grad_cam", "--no-sanity", "--no-progress")
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "results.json").read_text())
    assert recorded["facts"]["data"]["rows"] == 12
    assert any("notes.txt" in item for item in recorded["facts"]["data"]["skipped"])
    assert "notes.txt" in (out / "report.html").read_text()


def test_texts_with_a_scikit_learn_pipeline(tmp_path):
    text = zoo.load("rotten_tomatoes_logreg")
    path = save_model(text.model, tmp_path / "reviews.skops")
    (tmp_path / "reviews.txt").write_text("\n".join(text.inputs[:20]) + "\n")
    (tmp_path / "labels.txt").write_text("\n".join(str(int(v)) for v in text.labels[:20]) + "\n")
    out = tmp_path / "report"
    result = run_audit("--model", path, "--data", tmp_path / "reviews.txt", "--labels", tmp_path / "labels.txt",
                       "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(audited_probabilities(out), text.model.predict_proba(text.inputs[:20]), atol=1e-9)


@pytest.mark.parametrize("case, message", [
    ("missing model", "not found"),
    ("missing data", "no file or folder"),
    ("unknown target", "nope"),
    ("columns do not fit", "cannot run on the data"),
    ("empty data", "empty"),
    ("wrong output shape", "output has shape"),
])
def test_bad_input_is_one_line_and_exit_2(cancer_files, tmp_path, case, message):
    folder, model, _ = cancer_files
    save_file({k: v.contiguous() for k, v in model.model.state_dict().items()}, tmp_path / "w.safetensors")
    arguments = {"--model": "unboxed.zoo.breast_cancer:BreastCancerMLP", "--weights": tmp_path / "w.safetensors",
                 "--data": folder / "rows.csv", "--target": "diagnosis"}
    frame = pd.read_csv(folder / "rows.csv")
    if case == "missing model":
        arguments.update({"--model": tmp_path / "absent.onnx"})
        arguments.pop("--weights")
    elif case == "missing data":
        arguments["--data"] = tmp_path / "absent.csv"
    elif case == "unknown target":
        arguments["--target"] = "nope"
    elif case == "columns do not fit":
        frame.drop(columns=frame.columns[0]).to_csv(tmp_path / "fewer.csv", index=False)
        arguments["--data"] = tmp_path / "fewer.csv"
    elif case == "empty data":
        frame.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
        arguments["--data"] = tmp_path / "empty.csv"
    elif case == "wrong output shape":
        (tmp_path / "bad_model.py").write_text(
            "import torch\n\nclass Cube(torch.nn.Module):\n"
            "    def forward(self, x):\n        return x[:, :8].reshape(len(x), 2, 2, 2)\n")
        arguments = {**arguments, "--model": f"{tmp_path / 'bad_model.py'}:Cube"}
        arguments.pop("--weights")
    flat = [str(item) for pair in arguments.items() for item in pair]
    result = run_audit(*flat, "--out", tmp_path / "o", *QUICK)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0


def test_the_label_column_is_inferred_by_its_name(cancer_files, tmp_path):
    folder, model, probabilities = cancer_files
    frame = pd.read_csv(folder / "rows.csv").rename(columns={"diagnosis": "label"})
    frame.to_csv(tmp_path / "rows.csv", index=False)
    path = save_model(model.model, tmp_path / "cancer.onnx", example_inputs=model.inputs[:4])
    out = tmp_path / "report"
    result = run_audit("--model", path, "--data", tmp_path / "rows.csv", "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "results.json").read_text())
    assert recorded["facts"]["quality"]["accuracy"] == pytest.approx(float((probabilities.argmax(1) == model.labels.numpy()).mean()))
    assert any("'label'" in note for note in recorded["notes"])


def test_a_pipeline_trained_on_category_names_is_audited_through_them(tmp_path):
    """A scikit-learn pipeline that one-hot encodes string columns: the table's category codes are given
    back to it as names, so it audits (and its predictions are the pipeline's own on the CSV)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    credit = zoo.load("german_credit_mlp")
    names = credit.feature_names
    categories = credit.facts["categories"]
    frame = pd.DataFrame(credit.inputs.numpy(), columns=names)
    for column, values in categories.items():
        frame[column] = [values[int(code)] for code in frame[column]]
    labels = credit.labels.numpy()
    encoder = ColumnTransformer([("names", OneHotEncoder(handle_unknown="ignore"), list(categories))], remainder=StandardScaler())
    pipeline = make_pipeline(encoder, LogisticRegression(max_iter=2000)).fit(frame, labels)
    path = save_model(pipeline, tmp_path / "credit.skops")
    frame.assign(good_or_bad=labels).to_csv(tmp_path / "credit.csv", index=False)
    out = tmp_path / "report"
    result = run_audit("--model", path, "--data", tmp_path / "credit.csv", "--target", "good_or_bad", "--out", out, *QUICK)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(audited_probabilities(out), pipeline.predict_proba(frame), atol=1e-9)
    assert "by name" in (out / "report.html").read_text()
