"""Pictures of per-feature attributions: waterfalls add up to f(x), bars, beeswarms, superpixel
outlines, highlighted words (HTML and PNG) and global importances draw exactly what they show."""
import re

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from unboxed import InputError
from unboxed.explanation import FeatureAttribution, FeatureImportance
from unboxed.viz import plot_grid, plot_single
from unboxed.viz.features import (
    BOUNDARY, FEATURE_VALUE_MAP, plot_beeswarm, plot_feature_bars, plot_importance, plot_superpixels, plot_waterfall,
)
from unboxed.viz.tabular import NEGATIVE, POSITIVE
from unboxed.viz.text import MAX_OPACITY, plot_text, text_html


def _axes():
    return Figure(figsize=(6, 4)).subplots()


def table(values, base=None, scores=None, inputs=None, names=None):
    values = np.atleast_2d(np.asarray(values, dtype=float))
    n, d = values.shape
    return FeatureAttribution(
        values=values, inputs=np.zeros((n, d)) if inputs is None else np.asarray(inputs, dtype=float),
        scores=None if scores is None else np.asarray(scores, dtype=float),
        base=None if base is None else np.asarray(base, dtype=float), target=[1] * n, layout="tabular",
        feature_names=names or [f"f{j}" for j in range(d)], counts=np.full(n, d),
        segments=np.tile(np.arange(d), (n, 1)), provenance={"method": "m"},
    )


def bars_bottom_to_top(ax):
    return sorted(ax.patches, key=lambda bar: bar.get_y())


def test_waterfall_bars_are_the_values_chained_from_the_base_to_f_x():
    values = [0.5, -2.0, 1.0, 0.1, 0.05]
    row = table([values], base=[1.0], scores=[1.0 + sum(values)])
    ax = _axes()
    plot_waterfall(row, 0, ax=ax, max_display=4)
    bars = bars_bottom_to_top(ax)
    assert [bar.get_width() for bar in bars] == pytest.approx([0.15, 0.5, 1.0, -2.0])  # the rest folded, then by |value|
    assert bars[0].get_x() == 1.0  # starts at the base value
    for below, above in zip(bars, bars[1:]):
        assert above.get_x() == pytest.approx(below.get_x() + below.get_width())
    assert bars[-1].get_x() + bars[-1].get_width() == pytest.approx(1.0 + sum(values))  # ends at f(x)
    labels = {round(t.get_position()[1]): t.get_text() for t in ax.get_yticklabels()}
    assert [labels[round(bar.get_y() + bar.get_height() / 2)] for bar in bars] == [
        "2 other features", "f0 = 0", "f2 = 0", "f1 = 0"]
    assert [to_rgba(bar.get_facecolor()) for bar in bars[1:]] == [to_rgba(POSITIVE)] * 2 + [to_rgba(NEGATIVE)]


def test_waterfall_of_values_that_do_not_add_up_shows_the_gap_and_still_ends_at_f_x():
    row = table([[2.0, -1.0]], base=[0.0], scores=[3.0])  # 2 - 1 leaves 2 unexplained
    ax = _axes()
    plot_waterfall(row, 0, ax=ax)
    bars = bars_bottom_to_top(ax)
    assert [bar.get_width() for bar in bars] == pytest.approx([2.0, -1.0, 2.0])
    assert "not attributed" in ax.get_yticklabels()[0].get_text()
    assert bars[-1].get_x() + bars[-1].get_width() == pytest.approx(3.0)


def test_waterfall_without_a_base_starts_at_f_x_minus_the_sum():
    ax = _axes()
    plot_waterfall(table([[1.0, 0.5]], scores=[4.0]), 0, ax=ax)
    bars = bars_bottom_to_top(ax)
    assert bars[0].get_x() == pytest.approx(2.5) and len(bars) == 2
    assert "f(x) - sum of values 2.5" in ax.get_xlabel()


def test_bars_show_the_top_features_of_the_row_with_its_own_names():
    words = FeatureAttribution(values=np.array([[0.2, -0.9, 0.0], [0.4, 0.0, 0.0]]), inputs=np.array(["a b c", "d"]),
                               layout="text", feature_names=[["a", "b", "c"], ["d"]], counts=np.array([3, 1]))
    ax = _axes()
    plot_feature_bars(words, 0, ax=ax, top_k=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]
    assert [bar.get_width() for bar in ax.patches] == [-0.9, 0.2]
    ax = _axes()
    plot_feature_bars(words, 1, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["d"]  # padding features are not shown


def test_beeswarm_has_one_line_of_dots_per_feature_coloured_by_the_feature_value():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(30, 3))
    values = inputs * np.array([0.1, 2.0, -0.5])  # feature 1 matters most, then 2, then 0
    summary = table(values, inputs=inputs)
    ax = _axes()
    plot_beeswarm(summary, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["f1", "f2", "f0"]
    assert len(ax.collections) == 3
    from matplotlib import colormaps

    for line, (collection, feature) in enumerate(zip(ax.collections, [1, 2, 0])):
        offsets = collection.get_offsets()
        np.testing.assert_allclose(offsets[:, 0], values[:, feature])
        assert np.all(np.abs(offsets[:, 1] - line) <= 0.4 + 1e-12)
        colours = collection.get_facecolors()
        highest = int(np.argmax(inputs[:, feature]))
        np.testing.assert_allclose(colours[highest][:3], colormaps[FEATURE_VALUE_MAP](1.0)[:3])
    with pytest.raises(InputError, match="tabular"):
        plot_beeswarm(FeatureAttribution(values=np.ones((1, 2)), inputs=np.array(["a b"]), layout="text",
                                         feature_names=[["a", "b"]], counts=np.array([2])), ax=_axes())


def test_beeswarm_colours_a_group_of_columns_by_their_standardised_mean():
    inputs = np.array([[0.0, 0.0, 5.0], [1.0, 10.0, 5.0], [2.0, 20.0, 5.0]])
    grouped = FeatureAttribution(values=np.ones((3, 2)), inputs=inputs, layout="tabular", feature_names=["g", "c"],
                                 counts=np.full(3, 2), segments=np.tile([0, 0, 1], (3, 1)))
    from unboxed.viz.features import feature_values

    np.testing.assert_allclose(feature_values(grouped)[:, 0], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])


def image_row(values, segments):
    segments = np.asarray(segments)[None]
    return FeatureAttribution(values=np.asarray([values], dtype=float), inputs=np.full((1, 1, *segments.shape[1:]), 0.5),
                              layout="image", counts=np.array([len(values)]), segments=segments, target=[0],
                              provenance={"method": "m"})


def test_superpixel_overlay_colours_each_segment_by_its_value_and_outlines_it():
    segments = np.zeros((8, 8), dtype=int)
    segments[:, 4:] = 1
    ax = _axes()
    plot_superpixels(image_row([1.0, -1.0], segments), 0, ax=ax)
    picture = ax.images[0].get_array()
    assert picture.shape == (96, 96, 3)  # small images are enlarged so that outlines stay thin
    left, right = picture[:, :47], picture[:, 48:]
    assert np.all(left[..., 0] > left[..., 2]) and np.all(right[..., 2] > right[..., 0])  # red +, blue -
    assert np.ptp(left.reshape(-1, 3), axis=0).max() == 0  # one value per superpixel: one colour
    edge = picture[:, 47]
    np.testing.assert_allclose(edge, np.broadcast_to(0.2 * left[0, 0] + 0.8 * BOUNDARY, edge.shape))
    assert len(ax.figure.axes) == 2  # with its colour bar
    with pytest.raises(InputError, match="segments"):
        plot_superpixels(table([[1.0]]), 0, ax=_axes())


def words_row(values, words):
    return FeatureAttribution(values=np.asarray([values], dtype=float), inputs=np.array([" ".join(words)]),
                              layout="text", feature_names=[list(words)], counts=np.array([len(words)]), target=[1],
                              provenance={"method": "m"})


SPAN = re.compile(r'<span class="unboxed-word" data-value="([^"]+)"[^>]*background-color: rgba\((\d+), (\d+), (\d+), '
                  r'([\d.]+)\)[^>]*>(.*?)</span>')


def test_highlighted_html_holds_every_word_in_order_with_the_colour_of_its_sign():
    words = ["a", "<great>", "film", "&", "dull", "end"]
    values = [0.0, 2.0, 0.5, 0.0, -1.0, -0.25]
    spans = SPAN.findall(text_html(words_row(values, words), 0))
    assert [span[5] for span in spans] == ["a", "&lt;great&gt;", "film", "&amp;", "dull", "end"]
    red, blue = [round(c * 255) for c in POSITIVE[:3]], [round(c * 255) for c in NEGATIVE[:3]]
    for (value, r, g, b, alpha, _), expected in zip(spans, values):
        assert float(value) == expected
        assert float(alpha) == pytest.approx(MAX_OPACITY * abs(expected) / 2.0, abs=1e-3)
        if expected:
            assert [int(r), int(g), int(b)] == (red if expected > 0 else blue)


def test_highlighted_text_picture_draws_the_words_in_reading_order_on_signed_boxes():
    words = ["the", "acting", "is", "wonderful", "but", "the", "plot", "drags", "on"] * 3
    values = np.tile([0.0, 0.3, 0.0, 1.0, -0.2, 0.0, 0.1, -0.8, 0.0], 3)
    ax = Figure(figsize=(3, 2)).subplots()
    plot_text(words_row(values, words), 0, ax=ax)
    assert [t.get_text() for t in ax.texts] == words
    for text, value in zip(ax.texts, values):
        colour = text.get_bbox_patch().get_facecolor()
        assert colour[3] == pytest.approx(MAX_OPACITY * abs(value))
        if value:
            assert (colour[0] > colour[2]) == (value > 0)
    lines = [t.get_transform().transform((0, 1))[1] for t in ax.texts]
    assert len(set(np.round(lines, 3))) > 1 and all(np.diff(lines) <= 1e-9)  # wrapped, top to bottom


def test_importance_bars_are_sorted_with_one_std_error_bars():
    importance = FeatureImportance(repeats=np.array([[0.1, 0.3], [0.0, 0.0], [0.5, 0.7], [-0.1, -0.1]]),
                                   feature_names=["a", "b", "c", "d"], metric="accuracy", baseline=0.9, n_rows=10,
                                   labels="given")
    ax = _axes()
    plot_importance(importance, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a", "b", "d"]
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([0.6, 0.2, 0.0, -0.1])
    from matplotlib.container import ErrorbarContainer

    errors = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    error_lines = errors.lines[2][0].get_segments()
    assert [seg[1][0] - seg[0][0] for seg in error_lines] == pytest.approx([0.2, 0.2, 0.0, 0.0])
    assert "accuracy" in ax.get_xlabel() and "0.9" in ax.get_xlabel()


def test_plot_picks_a_picture_per_layout():
    tabular = table([[1.0, -1.0]], base=[0.0], scores=[0.0])
    assert "f(x)" in tabular.plot(0, ax=_axes()).get_xlabel()  # a waterfall
    assert tabular.plot(0, ax=_axes(), top_k=1).get_xlim()[0] < 0 and len(tabular.plot(0, ax=_axes(), top_k=1).patches) == 1
    segments = np.zeros((4, 4), dtype=int)
    assert image_row([1.0], segments).plot(0, ax=_axes()).images  # superpixels
    assert [t.get_text() for t in words_row([1.0, 0.0], ["ok", "fine"]).plot(0, ax=_axes()).texts] == ["ok", "fine"]
    assert len(table(np.eye(3)).plot(kind="beeswarm", ax=_axes()).collections) == 3
    with pytest.raises(InputError, match="kind must be one of"):
        tabular.plot(0, ax=_axes(), kind="pie")
    with pytest.raises(InputError, match="out of range"):
        tabular.plot(5, ax=_axes())
    assert "<span class=\"unboxed-word\"" in words_row([1.0], ["ok"])._repr_html_()


def test_grid_outlines_superpixels_and_highlights_words():
    segments = np.zeros((8, 8), dtype=int)
    segments[:, 4:] = 1
    fig = plot_grid({"ablation": image_row([1.0, -1.0], segments)}, row_labels=["r"])
    assert fig.axes[1].images[0].get_array().shape == (96, 96, 3)
    texts = plot_grid({"a": words_row([1.0, -1.0], ["good", "bad"]), "b": words_row([0.0, 1.0], ["good", "bad"])})
    assert [t.get_text() for t in texts.axes[1].texts] == ["good", "bad"] and len(texts.axes) == 3
    single = plot_single(words_row([1.0, -1.0], ["good", "bad"]), label="row")
    assert [t.get_text() for t in single.axes[0].texts] == ["good", "bad"]
    waterfall = plot_single(table([[1.0, -1.0]], base=[0.0], scores=[0.0]))
    assert "f(x)" in waterfall.axes[0].get_xlabel()
