"""The `unboxed` command: catalogue filters, one-line errors, and `explain` writing what the Python API computes."""
import numpy as np
import pytest
from typer.testing import CliRunner

import unboxed
from unboxed.cli import app, parse_setting
from unboxed.gallery import gallery_settings

runner = CliRunner()


def listed(output: str) -> list[str]:
    """Method names from the `methods` table (first column, after the header)."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[0].split()[:6] == ["name", "engagement", "format", "scope", "access", "summary"]
    return [line.split()[0] for line in lines[1:]]


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_methods_lists_the_whole_catalogue_with_its_axes():
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0
    assert listed(result.stdout) == [m.name for m in unboxed.methods()]
    row = next(line for line in result.stdout.splitlines() if line.startswith("saliency "))
    assert row.split()[1:5] == ["passive", "attribution", "local", "gradients"]


@pytest.mark.parametrize("args, filters", [
    (["--format", "attribution", "--access", "black-box"], {"format": "attribution", "access": "black-box"}),
    (["--access", "gradients"], {"access": "gradients"}),
    (["--access", "internals", "--access", "black-box"], {"access": ["internals", "black-box"]}),
    (["--scope", "local", "--engagement", "passive"], {"scope": "local", "engagement": "passive"}),
])
def test_methods_filters_match_the_registry(args, filters):
    result = runner.invoke(app, ["methods", *args])
    assert result.exit_code == 0
    expected = [m.name for m in unboxed.methods(**filters)]
    assert expected, "the filter should match something in the registry"
    assert listed(result.stdout) == expected


def test_black_box_attribution_methods_are_exactly_the_registry_s():
    result = runner.invoke(app, ["methods", "--format", "attribution", "--access", "black-box"])
    expected = sorted(m.name for m in unboxed.methods() if m.format.value == "attribution" and m.access.value == "black-box")
    assert listed(result.stdout) == expected


def test_a_filter_that_matches_nothing_says_so():
    result = runner.invoke(app, ["methods", "--engagement", "active", "--format", "attribution", "--access", "black-box"])
    assert result.exit_code == 0
    if not unboxed.methods(engagement="active", format="attribution", access="black-box"):
        assert "no method matches" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["methods", "--access", "blackbox"], "unknown access 'blackbox'"),
    (["methods", "--format", "pictures"], "unknown format"),
    (["explain", "--model", "digits_cnn", "--method", "saliencyy"], "did you mean saliency"),
    (["explain", "--model", "nope", "--method", "saliency"], "unknown zoo model 'nope'"),
    (["explain", "--model", "digits_cnn", "--method", "saliency", "--setting", "bogus=1"], "no setting 'bogus'"),
    (["explain", "--model", "digits_cnn", "--method", "saliency", "--setting", "novalue"], "key=value"),
    (["explain", "--model", "digits_cnn", "--method", "saliency", "--index", "100000"], "out of range"),
    (["explain", "--model", "digits_cnn", "--method", "saliency", "--target", "12"], "out of range"),
    (["explain", "--model", "breast_cancer_mlp", "--method", "saliency", "--target", "benin"], "did you mean benign"),
])
def test_errors_are_one_line_and_exit_2(args, fragment, tmp_path):
    result = runner.invoke(app, [*args, "--out", str(tmp_path)] if args[0] == "explain" else args)
    assert_one_line_error(result, fragment)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_cam_methods_on_the_mlp_explain_why_they_cannot_run():
    cam_like = [m.name for m in unboxed.methods(format="attribution") if "layer" in _parameters(m.name)]
    if not cam_like:
        pytest.skip("no method with a layer setting is registered")
    result = runner.invoke(app, ["explain", "--model", "breast_cancer_mlp", "--method", cam_like[0]])
    assert_one_line_error(result, "convolutional layer")


def _parameters(name):
    import inspect

    return inspect.signature(unboxed.get_method(name).__init__).parameters


def test_explain_writes_a_picture_and_a_raw_result_equal_to_the_python_api(tmp_path, digits):
    result = runner.invoke(app, ["explain", "--model", "digits_cnn", "--method", "integrated_gradients", "--index", "5",
                                 "--target", "3", "--setting", "n_steps=16", "--setting", "rule=riemann_middle",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    png, npz = tmp_path / "digits_cnn_integrated_gradients_5.png", tmp_path / "digits_cnn_integrated_gradients_5.npz"
    assert f"picture: {png}" in result.stdout and f"raw result: {npz}" in result.stdout
    assert png.read_bytes().startswith(b"\x89PNG")
    saved = unboxed.load(npz)
    expected = unboxed.get_method("integrated_gradients")(digits.model, n_steps=16, rule="riemann_middle").explain(
        digits.inputs[5:6], target=3
    )
    np.testing.assert_array_equal(saved.values, expected.values)
    np.testing.assert_array_equal(saved.inputs, digits.inputs[5:6].numpy())
    assert saved.target == [3] and saved.provenance["settings"]["n_steps"] == 16
    assert "completeness gap" in result.stdout


def test_explain_uses_the_gallery_settings_and_class_names(tmp_path, cancer):
    result = runner.invoke(app, ["explain", "--model", "breast_cancer_mlp", "--method", "occlusion", "--index", "2",
                                 "--target", "Malignant", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    saved = unboxed.load(tmp_path / "breast_cancer_mlp_occlusion_2.npz")
    settings = gallery_settings("occlusion", cancer)
    expected = unboxed.get_method("occlusion")(cancer.model, **settings).explain(cancer.inputs[2:3], target=0)
    np.testing.assert_allclose(saved.values, expected.values)
    assert saved.target == [0] and saved.feature_names == list(cancer.feature_names)


def test_parse_setting_reads_literals_and_keeps_words():
    assert parse_setting("window=(1, 4, 4)") == ("window", (1, 4, 4))
    assert parse_setting("n_steps=8") == ("n_steps", 8)
    assert parse_setting("noise_level=0.2") == ("noise_level", 0.2)
    assert parse_setting("absolute=False") == ("absolute", False)
    assert parse_setting("baseline=None") == ("baseline", None)
    assert parse_setting("rule=gausslegendre") == ("rule", "gausslegendre")


def test_no_arguments_prints_help():
    result = runner.invoke(app, [])
    assert "methods" in result.output and "explain" in result.output and "demo" in result.output


def test_explain_a_global_method_covers_all_held_out_rows(tmp_path, cancer):
    result = runner.invoke(app, ["explain", "--model", "breast_cancer_mlp", "--method", "permutation_importance",
                                 "--setting", "n_repeats=2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    saved = unboxed.load(tmp_path / "breast_cancer_mlp_permutation_importance.npz")
    expected = unboxed.get_method("permutation_importance")(cancer.model, **{**gallery_settings(
        "permutation_importance", cancer), "n_repeats": 2}).explain(cancer.inputs, labels=cancer.labels)
    np.testing.assert_array_equal(saved.repeats, expected.repeats)
    assert saved.n_rows == len(cancer.inputs) and saved.labels == "given"
    assert (tmp_path / "breast_cancer_mlp_permutation_importance.png").read_bytes().startswith(b"\x89PNG")
    assert f"most important: {saved.ranking(1)[0]}" in result.stdout


def test_explain_a_text_with_a_black_box_method_writes_highlighted_words(tmp_path):
    result = runner.invoke(app, ["explain", "--model", "rotten_tomatoes_logreg", "--method", "feature_ablation",
                                 "--index", "1", "--target", "fresh", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    saved = unboxed.load(tmp_path / "rotten_tomatoes_logreg_feature_ablation_1.npz")
    page = (tmp_path / "rotten_tomatoes_logreg_feature_ablation_1.html").read_text(encoding="utf-8")
    assert saved.target == [1] and saved.layout == "text"
    assert all(f">{w}</span>" in page for w in saved.names_of(0) if w.isalpha())
    gradients = runner.invoke(app, ["explain", "--model", "rotten_tomatoes_logreg", "--method", "saliency",
                                    "--out", str(tmp_path)])
    assert_one_line_error(gradients, "needs gradients")


def test_explain_shapley_on_grouped_cancer_features(tmp_path):
    if "exact_shapley" not in [m.name for m in unboxed.methods()]:
        pytest.skip("exact_shapley is not registered")
    result = runner.invoke(app, ["explain", "--model", "breast_cancer_mlp", "--method", "exact_shapley", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "groups=10" in result.stdout
    saved = unboxed.load(tmp_path / "breast_cancer_mlp_exact_shapley_0.npz")
    assert saved.values.shape == (1, 10)
    np.testing.assert_allclose(saved.base + saved.values.sum(1), saved.scores, rtol=1e-5)
