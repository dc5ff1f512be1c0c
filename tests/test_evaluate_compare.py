"""compare() and `unboxed evaluate`: the table is what the metrics say, the picture shows directions right, errors are clear."""
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib import colormaps
from typer.testing import CliRunner

import unboxed
from unboxed.cli import app
from unboxed.evaluate import (Comparison, Deletion, FaithfulnessCorrelation, MaxSensitivity, PointingGame, Sparseness,
                              compare, plot_comparison)
from unboxed.evaluate.compare import BEST_COLOUR_MAP
from unboxed.gallery import pick_samples, take

runner = CliRunner()


@pytest.fixture(scope="module")
def images(digits):
    return digits.inputs[:4]


def test_table_holds_exactly_the_summaries_of_each_metric_called_directly(digits, images):
    seed = 3  # not the default: a seed that did not reach the metrics or the methods would change the numbers
    methods = ["saliency", ("smoothgrad", {"n_samples": 4})]
    metrics = [Deletion(steps=8), "faithfulness_correlation", MaxSensitivity(n_samples=3, seed=seed), "sparseness"]
    result = compare(digits.model, images, methods, metrics, seed=seed)
    assert list(result.table.index) == ["saliency", "smoothgrad"]
    assert list(result.table.columns) == ["deletion", "faithfulness_correlation", "max_sensitivity", "sparseness"]
    direct_metrics = [Deletion(steps=8), FaithfulnessCorrelation(seed=seed), MaxSensitivity(n_samples=3, seed=seed), Sparseness()]
    direct_methods = ["saliency", ("smoothgrad", {"n_samples": 4, "seed": seed})]
    for label, method in zip(result.table.index, direct_methods):
        for metric in direct_metrics:
            direct = metric.evaluate(digits.model, images, method=method)
            assert result.table.at[label, metric.name] == pytest.approx(direct.summary, rel=1e-12, abs=1e-15)
            np.testing.assert_allclose(result.results[label, metric.name].scores, direct.scores, rtol=1e-12, atol=1e-15)
    other_seed = FaithfulnessCorrelation(seed=0).evaluate(digits.model, images, method="saliency").summary
    assert other_seed != pytest.approx(result.table.at["saliency", "faithfulness_correlation"], rel=1e-6)
    per_example = result.scores
    assert len(per_example) == 2 * 4 * len(images)
    rows = per_example[(per_example.method == "smoothgrad") & (per_example.metric == "deletion")]
    np.testing.assert_array_equal(rows.score.to_numpy(), result.results["smoothgrad", "deletion"].scores)
    assert not rows.higher_is_better.any() and set(rows.category) == {"faithfulness"}


def test_each_method_explains_once_for_the_metrics_that_need_only_its_explanation(digits, images):
    explainer = unboxed.get_method("saliency")(digits.model)
    calls = []
    original = explainer.explain
    explainer.explain = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    mask = torch.zeros(len(images), 32, 32, dtype=torch.bool)
    mask[:, 10:20, 10:20] = True
    result = compare(digits.model, images, [explainer], ["sparseness", "deletion", "pointing_game"], mask=mask)
    assert len(calls) == 1
    direct = PointingGame().evaluate(digits.model, images, method="saliency", mask=mask)
    np.testing.assert_array_equal(result.results["saliency", "pointing_game"].scores, direct.scores)


def test_metrics_that_need_a_mask_raise_when_asked_for_and_are_left_out_by_default(digits, images):
    with pytest.raises(unboxed.InputError, match="pointing_game needs mask="):
        compare(digits.model, images, ["saliency"], ["sparseness", "pointing_game"])
    with pytest.raises(unboxed.InputError, match="no chosen metric takes random_modle"):
        compare(digits.model, images, ["saliency"], ["sparseness"], random_modle=digits.model)
    no_mask = compare(digits.model, images[:2], ["saliency"], metrics=None)
    assert "pointing_game" not in no_mask.table.columns and "deletion" in no_mask.table.columns
    assert any("localisation" in note and "mask" in note for note in no_mask.notes)
    with_mask = compare(digits.model, images[:2], ["saliency"], mask=torch.ones(2, 32, 32, dtype=torch.bool))
    assert {"relevance_mass_accuracy", "relevance_rank_accuracy", "pointing_game"} <= set(with_mask.table.columns)
    assert not with_mask.notes


@pytest.mark.parametrize("methods, metrics, fragment", [
    (["saliency"], ["deletionn"], "did you mean deletion"),
    (["saliencyy"], ["deletion"], "did you mean saliency"),
    (["permutation_importance"], ["deletion"], "not a local attribution method"),
    ("saliency", ["deletion"], "non-empty list"),
    (["saliency"], [], "non-empty list"),
    ([42], ["deletion"], "registered name"),
])
def test_bad_methods_and_metrics_are_clear_errors(digits, images, methods, metrics, fragment):
    with pytest.raises(unboxed.InputError, match=fragment):
        compare(digits.model, images, methods, metrics)


def test_repeated_methods_get_labels_that_tell_them_apart(linear):
    model, inputs = linear
    methods = [("saliency", {"absolute": True}), ("saliency", {"absolute": False}), ("saliency", {"absolute": False})]
    result = compare(model, inputs, methods, [Deletion(steps=5), Deletion(steps=5, order="lerf")])
    assert list(result.table.index) == ["saliency (absolute=True)", "saliency (absolute=False) #1", "saliency (absolute=False) #2"]
    assert list(result.table.columns) == ["deletion (removal=0.0, steps=5, order=morf)", "deletion (removal=0.0, steps=5, order=lerf)"]
    assert result.table.iloc[0, 0] != result.table.iloc[1, 0]  # signed and absolute gradients remove features in other orders
    assert list(result.higher_is_better.values()) == [False, True]


def _hand_made():
    table = pd.DataFrame({"deletion": [0.1, 0.5, 0.3], "sparseness": [0.1, 0.5, 0.3], "pointing_game": [np.nan, 1.0, 0.0]},
                         index=["a", "b", "c"])
    return Comparison(table, {}, {"deletion": False, "sparseness": True, "pointing_game": True},
                      {"deletion": "faithfulness", "sparseness": "complexity", "pointing_game": "localisation"})


def test_the_picture_gives_the_best_colour_to_the_best_method_in_each_metric_s_direction():
    comparison = _hand_made()
    figure = plot_comparison(comparison)
    ax = figure.axes[0]
    image = ax.get_images()[0]
    colours = image.to_rgba(image.get_array())  # rows: metrics, columns: methods a, b, c
    best, worst = colormaps[BEST_COLOUR_MAP](1.0), colormaps[BEST_COLOUR_MAP](0.0)
    np.testing.assert_allclose(colours[0, 0], best)  # deletion (lower is better): a has the lowest area
    np.testing.assert_allclose(colours[0, 1], worst)
    np.testing.assert_allclose(colours[1, 1], best)  # sparseness (higher is better): b
    np.testing.assert_allclose(colours[1, 0], worst)
    np.testing.assert_allclose(colours[2, 1], best)  # pointing game: a has no score (grey), b is best
    assert tuple(colours[2, 0]) not in (tuple(best), tuple(worst))
    single = Comparison(pd.DataFrame({"seed_stability": [np.nan, 0.7]}, index=["a", "b"]), {}, {"seed_stability": True},
                        {"seed_stability": "robustness"})
    lone = plot_comparison(single).axes[0].get_images()[0]
    lone_colours = lone.to_rgba(lone.get_array())
    np.testing.assert_allclose(lone_colours[0, 1], best)  # the only score is the best one ...
    assert tuple(lone_colours[0, 0]) != tuple(best)  # ... and a method without a score stays grey
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels[0].startswith("deletion ↓") and "lower is better" in labels[0]
    assert labels[1].startswith("sparseness ↑") and "higher is better" in labels[1]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells[0, 0] == "0.1" and cells[1, 1] == "0.5" and cells[2, 0] == "nan"
    assert comparison.best() == {"deletion": ["a"], "sparseness": ["b"], "pointing_game": ["b"]}
    text = comparison.to_text().splitlines()
    assert text[0].split() == ["method", "deletion", "↓", "sparseness", "↑", "pointing_game", "↑"]
    assert text[1].split()[:3] == ["a", "0.1*", "0.1"] and text[2].split()[2] == "0.5*"


def test_save_writes_the_table_the_scores_and_the_picture(tmp_path, digits, images):
    result = compare(digits.model, images[:2], ["saliency", "input_x_gradient"], ["sparseness", Deletion(steps=4)])
    paths = result.save(tmp_path)
    table = pd.read_csv(paths["table"], index_col="method")
    pd.testing.assert_frame_equal(table, result.table, check_names=False, rtol=1e-12)
    scores = pd.read_csv(paths["scores"])
    assert len(scores) == 2 * 2 * 2 and set(scores.columns) >= {"method", "metric", "higher_is_better", "example", "score"}
    assert matplotlib.image.imread(paths["figure"]).ndim == 3
    page = result._repr_html_()
    assert page.count("<img") == 1 and "deletion ↓" in page and "sparseness ↑" in page


# --- the command line ---------------------------------------------------------------------------

def test_evaluate_writes_csv_and_png_equal_to_the_python_api(tmp_path, digits):
    result = runner.invoke(app, ["evaluate", "--model", "digits_cnn", "--methods", "saliency,input_x_gradient",
                                 "--metrics", "deletion, sparseness", "--samples", "3", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "deletion ↓" in result.stdout and "sparseness ↑" in result.stdout and "lower is better" in result.stdout
    written = pd.read_csv(tmp_path / "comparison.csv", index_col="method")
    inputs = take(digits.inputs, pick_samples(digits, 3))
    expected = compare(digits.model, inputs, ["saliency", "input_x_gradient"], ["deletion", "sparseness"]).table
    pd.testing.assert_frame_equal(written, expected, check_names=False, rtol=1e-10)
    assert matplotlib.image.imread(tmp_path / "comparison.png").ndim == 3
    assert (tmp_path / "scores.csv").is_file()


def test_evaluate_on_the_watermark_model_adds_localisation_against_the_tag(tmp_path):
    result = runner.invoke(app, ["evaluate", "--model", "digits_watermark", "--methods", "grad_cam", "--metrics",
                                 "relevance_mass_accuracy", "--samples", "4", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    watermark = unboxed.zoo.load("digits_watermark")
    tagged = watermark.inputs[watermark.labels == watermark.watermark_class][:4]
    mask = watermark.watermark_mask.expand(4, 32, 32)
    direct = unboxed.evaluate.RelevanceMassAccuracy().evaluate(watermark.model, tagged, method=("grad_cam", {"layer": "conv3"}),
                                                               mask=mask)
    written = pd.read_csv(tmp_path / "comparison.csv", index_col="method")
    assert written.at["grad_cam", "relevance_mass_accuracy"] == pytest.approx(direct.summary, rel=1e-10)


@pytest.mark.parametrize("args, fragment", [
    (["--model", "digits_cnn", "--metrics", "deletionn"], "unknown metric 'deletionn'; did you mean deletion"),
    (["--model", "digits_cnn", "--methods", "saliencyy"], "did you mean saliency"),
    (["--model", "nope"], "unknown zoo model 'nope'"),
    (["--model", "digits_cnn", "--metrics", "pointing_game"], "pointing_game needs a ground-truth mask; digits_cnn has none"),
    (["--model", "breast_cancer_mlp", "--methods", "grad_cam"], "convolutional layer"),
    (["--model", "breast_cancer_mlp", "--methods", "permutation_importance"], "not a local attribution method"),
    (["--model", "digits_cnn", "--methods", " , "], "at least one name"),
])
def test_evaluate_errors_are_one_line_and_exit_2(tmp_path, args, fragment):
    result = runner.invoke(app, ["evaluate", *args, "--samples", "2", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written
