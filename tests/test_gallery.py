"""The gallery: every registered attribution method shows up (or says why not), and the page points at real files."""
import copy
import html
import re

import matplotlib.image
import numpy as np
import pytest
from typer.testing import CliRunner

import unboxed
from unboxed.gallery import run as gallery_run
from unboxed.gallery import settings as gallery_settings_module
from unboxed.cli import app
from unboxed.gallery import NotApplicable, build_gallery, gallery_settings, pick_samples

MODELS = ("digits_cnn", "breast_cancer_mlp")
# sample counts of the sampling methods, capped so that the test galleries take seconds
CAPS = {"n_samples": 60, "n_permutations": 4, "n_iterations": 3, "n_repeats": 3}


def cheap_settings():
    table = copy.deepcopy(gallery_settings_module.SETTINGS)
    for per_model in table.values():
        for settings in per_model.values():
            settings.update({key: min(value, CAPS[key]) for key, value in settings.items() if key in CAPS})
    return table


@pytest.fixture(scope="module")
def cheap():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gallery_settings_module, "SETTINGS", cheap_settings())
        patch.setattr(gallery_run, "SUMMARY_ROWS", 12)
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory, cheap):
    out = tmp_path_factory.mktemp("gallery")
    return out, build_gallery(out, models=MODELS, n_samples=2, show_progress=False)


def is_global(name):
    return unboxed.get_method(name).info.scope.value == "global"


def attribution_names():
    return [m.name for m in unboxed.methods(format="attribution")]


def test_page_references_only_files_that_exist(built):
    out, result = built
    page = result.index.read_text(encoding="utf-8")
    assert result.index == out / "index.html"
    links = re.findall(r"(?:src|href)='([^']+)'", page)
    assert any(link.endswith(".png") for link in links) and any(link.endswith(".npz") for link in links)
    for link in links:
        assert not link.startswith(("http:", "https:", "/")), link  # self-contained: relative links only
        assert (out / html.unescape(link)).is_file(), link
    for model in MODELS:
        assert f"{model}/grid.png" in links


def test_every_registered_attribution_method_appears_or_is_skipped_with_a_reason(built):
    out, result = built
    page = result.index.read_text(encoding="utf-8")
    for model in MODELS:
        entries = {e.method: e for e in result.entries if e.model == model}
        assert sorted(entries) == sorted(attribution_names())
        for name, entry in entries.items():
            assert entry.status in ("ok", "skipped"), (model, name, entry.reason)
            if entry.status == "ok":
                saved = unboxed.load(entry.path)
                assert entry.path == out / model / f"{name}.npz" and saved.method == name
                if is_global(name):  # over all held-out data, with its own picture
                    assert saved.n_rows == len(unboxed.zoo.load(model).inputs) and (out / model / f"{name}.png").is_file()
                else:
                    assert len(saved) == 2
            else:
                assert entry.reason and html.escape(entry.reason) in page
    # the MLP has no conv layer: every method that takes a layer is skipped there, and runs on digits
    layered = [e.method for e in result.entries if e.model == "digits_cnn" and "layer" in e.settings]
    for name in layered:
        mlp = next(e for e in result.entries if e.model == "breast_cancer_mlp" and e.method == name)
        assert mlp.status == "skipped" and "convolutional layer" in mlp.reason


def test_page_shows_taxonomy_tags_timings_and_the_completeness_gap(built):
    _, result = built
    page = result.index.read_text(encoding="utf-8")
    for info in unboxed.methods(format="attribution"):
        assert f">{info.access.value}</span>" in page and info.name in page
    ig = next(e for e in result.entries if e.model == "digits_cnn" and e.method == "integrated_gradients")
    assert ig.max_delta is not None and f"{ig.max_delta:.3g}" in page
    assert re.search(r"\d+ ms</td>|\d\.\d s</td>", page)


def test_grid_picture_has_a_column_per_method_and_a_row_per_input(built):
    out, result = built
    ran = [e for e in result.entries if e.model == "digits_cnn" and e.status == "ok" and not is_global(e.method)]
    picture = matplotlib.image.imread(out / "digits_cnn" / "grid.png")
    height, width = picture.shape[:2]
    assert width / height == pytest.approx((2.0 * (1 + len(ran)) + 0.3) / (2.0 * 1.12 * 2 + 0.6), rel=0.02)


def test_gallery_settings_table():
    from unboxed import zoo
    from unboxed.maskers import ImageMasker, TabularMasker

    digits, cancer = zoo.load("digits_cnn"), zoo.load("breast_cancer_mlp")
    names = attribution_names()
    assert gallery_settings("feature_ablation", cancer)["background"] is cancer.background  # training rows
    assert isinstance(gallery_settings("feature_ablation", digits)["masker"], ImageMasker)
    with pytest.raises(NotApplicable, match="table columns"):
        gallery_settings("permutation_importance", digits)
    if "exact_shapley" in names:
        grouped = gallery_settings("exact_shapley", cancer)["masker"]
        assert isinstance(grouped, TabularMasker) and len(grouped.groups) == 10
        assert all(len(columns) == 3 for columns in grouped.groups.values())
    with pytest.raises(NotApplicable, match="needs gradients"):
        gallery_settings("saliency", zoo.load("rotten_tomatoes_logreg"))
    for name in names:
        if "layer" in _parameters(name):
            assert gallery_settings(name, digits)["layer"] == digits.cam_layer
            with pytest.raises(NotApplicable, match="breast_cancer_mlp has none"):
                gallery_settings(name, cancer)
    if "occlusion" in names:
        assert gallery_settings("occlusion", digits) == {"window": (1, 4, 4), "stride": (1, 2, 2)}
        assert gallery_settings("occlusion", cancer) == {"window": (1,), "stride": (1,)}
    assert gallery_settings("saliency", digits) == {}


def test_gallery_settings_drops_what_the_method_does_not_take(monkeypatch, digits):
    monkeypatch.setitem(gallery_settings_module.SETTINGS, "saliency", {"*": {"absolute": False, "bogus": 1}})
    assert gallery_settings("saliency", digits) == {"absolute": False}


def _parameters(name):
    import inspect

    return inspect.signature(unboxed.get_method(name).__init__).parameters


def test_samples_take_classes_in_turn(cancer):
    rows = pick_samples(cancer, 4)
    labels = cancer.labels[rows].tolist()
    assert len(set(rows)) == 4 and labels[0] != labels[1] and labels[2] != labels[3]


def test_per_feature_methods_tables_and_global_pictures(built):
    out, result = built
    entries = {(e.model, e.method): e for e in result.entries}
    page = result.index.read_text(encoding="utf-8")
    if "exact_shapley" in attribution_names():  # 10 measurement groups: exact, and efficient to float32 rounding
        exact = entries["breast_cancer_mlp", "exact_shapley"]
        assert exact.status == "ok" and exact.max_delta < 1e-6 * exact.max_score  # float32 model: rounding only
        saved = unboxed.load(exact.path)
        assert saved.values.shape == (2, 10) and saved.feature_names[0] == "radius"
    ablation = entries["breast_cancer_mlp", "feature_ablation"]
    assert ablation.max_delta is not None and ablation.max_delta > 1e-3  # ablation is not efficient, and the page says so
    captions = [caption for caption, _ in result.figures["breast_cancer_mlp"]]
    assert any("waterfall" in c for c in captions) and any("summary over 12" in c for c in captions)
    assert any("permutation_importance" in c for c in captions)
    for _, path in result.figures["breast_cancer_mlp"]:
        assert path.is_file() and path.relative_to(out).as_posix() in page
    assert "ImageMasker(segmentation=slic, segments=50, fill=0.0)" in page and "tabular.TabularMasker" not in page
    digits_ablation = unboxed.load(entries["digits_cnn", "feature_ablation"].path)
    assert digits_ablation.segments.shape == (2, 32, 32) and digits_ablation.layout == "image"


def test_text_model_gallery_shows_highlighted_words(tmp_path, cheap):
    result = build_gallery(tmp_path, models=("rotten_tomatoes_logreg",), methods=["feature_ablation", "saliency"],
                           n_samples=2, show_progress=False)
    status = {e.method: (e.status, e.reason) for e in result.entries}
    assert status["feature_ablation"] == ("ok", "")
    assert status["saliency"][0] == "skipped" and "needs gradients" in status["saliency"][1]
    page = result.index.read_text(encoding="utf-8")
    saved = unboxed.load(tmp_path / "rotten_tomatoes_logreg" / "feature_ablation.npz")
    for row in range(2):
        for word in saved.names_of(row):
            assert f">{html.escape(word)}</span>" in page
    assert (tmp_path / "rotten_tomatoes_logreg" / "grid.png").is_file()


def test_a_crashing_method_is_reported_and_the_rest_still_run(tmp_path, monkeypatch):
    real = gallery_run.get_method

    class Broken:
        info = real("saliency").info

        def __init__(self, model, **settings):
            pass

        def explain(self, inputs, target=None, **kwargs):
            raise RuntimeError("boom")

    monkeypatch.setattr(gallery_run, "get_method", lambda name: Broken if name == "saliency" else real(name))
    result = build_gallery(tmp_path, models=("breast_cancer_mlp",), methods=["saliency", "input_x_gradient"],
                           n_samples=2, show_progress=False)
    status = {e.method: (e.status, e.reason) for e in result.entries}
    assert status == {"saliency": ("failed", "RuntimeError: boom"), "input_x_gradient": ("ok", "")}
    assert "failed: RuntimeError: boom" in result.index.read_text(encoding="utf-8")


def test_unknown_names_are_clear_errors(tmp_path):
    with pytest.raises(unboxed.InputError, match="unknown zoo model"):
        build_gallery(tmp_path, models=("nope",), show_progress=False)
    with pytest.raises(unboxed.InputError, match="did you mean"):
        build_gallery(tmp_path, models=("breast_cancer_mlp",), methods=["saliencyy"], show_progress=False)


def test_demo_command_builds_a_reduced_gallery(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--model", "breast_cancer_mlp", "--samples", "2",
                                      "--no-progress", "--no-watermark", "--no-audits"])  # the watermark case: tests/test_watermark_case.py
    assert result.exit_code == 0, result.output
    assert f"gallery written to {tmp_path / 'index.html'}" in result.stdout
    assert (tmp_path / "breast_cancer_mlp" / "grid.png").is_file()
    saved = unboxed.load(tmp_path / "breast_cancer_mlp" / "saliency.npz")
    assert saved.values.shape == (2, 30) and np.all(np.isfinite(saved.values))
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped ")]
    assert all("convolutional layer" in line for line in skipped)
