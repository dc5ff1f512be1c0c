"""Pictures: colour scales, overlays, upsampling, bar charts, grids and HTML output say what they should."""
import base64
import re

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from unboxed import InputError
from unboxed.explanation import Attribution
from unboxed.viz import (
    colour_scale, figure_to_html, figure_to_png, heatmap, overlay, plot_attribution, plot_grid, plot_single,
    plot_tabular_attribution, reduce_channels, top_features, upsample,
)
from unboxed.viz.image import DIVERGING, SEQUENTIAL
from unboxed.viz.tabular import NEGATIVE, POSITIVE, UNSIGNED


def _axes():
    return Figure().subplots()


def image_attribution(values, inputs=None):
    values = np.asarray(values, dtype=np.float64)
    if inputs is None:
        inputs = np.random.default_rng(0).random((len(values), 1, 8, 8))
    return Attribution(values=values, inputs=inputs, target=[0] * len(values), layout="image", provenance={"method": "test"})


# --- colour scales ----------------------------------------------------------------------------

def test_signed_map_uses_a_diverging_scale_centred_at_zero_with_symmetric_limits():
    heat = np.array([[-0.5, 0.0], [1.0, 3.0]])
    scale = colour_scale(heat, clip_percentile=100)
    assert scale.signed and scale.cmap.name == DIVERGING
    assert scale.norm.vmin == -scale.norm.vmax == -3.0
    assert scale.norm(0.0) == pytest.approx(0.5)
    centre = np.array(scale.cmap(scale.norm(0.0)))
    assert np.allclose(centre, scale.cmap(0.5))
    assert centre[:3].min() > 0.9  # the centre colour is (near) white: zero reads as 'nothing'
    low, high = np.array(scale.cmap(scale.norm(-3.0))), np.array(scale.cmap(scale.norm(3.0)))
    assert high[0] > high[2] and low[2] > low[0]  # + is red, - is blue


def test_non_negative_map_uses_a_sequential_scale_from_zero():
    scale = colour_scale(np.array([[0.0, 0.2], [0.4, 2.0]]), clip_percentile=100)
    assert not scale.signed and scale.cmap.name == SEQUENTIAL
    assert (scale.norm.vmin, scale.norm.vmax) == (0.0, 2.0)
    assert scale.strength(np.array([0.0, 1.0, 2.0, 5.0])).tolist() == [0.0, 0.5, 1.0, 1.0]


def test_limits_clip_outliers_but_stay_symmetric():
    heat = np.concatenate([np.linspace(-1, 1, 999), [100.0]])
    scale = colour_scale(heat, clip_percentile=99)
    assert scale.norm.vmax < 2 and scale.norm.vmin == -scale.norm.vmax


def test_all_zero_map_is_drawn_as_nothing():
    scale = colour_scale(np.zeros((4, 4)))
    assert scale.norm.vmax > 0 and np.all(scale.strength(np.zeros((4, 4))) == 0)


def test_signedness_can_be_decided_for_the_whole_attribution():
    assert colour_scale(np.ones((2, 2)), signed=True).cmap.name == DIVERGING


# --- overlay ----------------------------------------------------------------------------------

def test_overlay_leaves_zero_relevance_pixels_as_the_grey_image_and_colours_the_rest():
    image = np.full((3, 3, 3), 0.5)
    heat = np.zeros((3, 3))
    heat[0, 0], heat[2, 2] = 1.0, -1.0
    scale = colour_scale(heat, clip_percentile=100)
    rgb = overlay(image, heat, scale)
    grey = 0.15 + 0.7 * 0.5
    assert np.allclose(rgb[1, 1], grey)
    assert np.allclose(rgb[0, 0], 0.15 * grey + 0.85 * np.array(scale.cmap(1.0)[:3]))  # strongest positive: red
    assert np.allclose(rgb[2, 2], 0.15 * grey + 0.85 * np.array(scale.cmap(0.0)[:3]))  # strongest negative: blue
    assert rgb[0, 0, 0] > rgb[0, 0, 2] and rgb[2, 2, 2] > rgb[2, 2, 0]


def test_channels_are_summed():
    values = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    assert np.array_equal(reduce_channels(values), values.sum(0))
    assert np.array_equal(reduce_channels(values[0]), values[0])


def test_layer_sized_map_is_upsampled_like_torch_bilinear_and_stays_aligned():
    small = np.random.default_rng(0).normal(size=(4, 5))
    big = upsample(small, (32, 40))
    reference = torch.nn.functional.interpolate(
        torch.tensor(small)[None, None], size=(32, 40), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    assert np.allclose(big, reference, atol=1e-10)
    corner = np.zeros((4, 4))
    corner[0, 0] = 1.0
    up = heatmap(corner[None], (32, 32))
    assert np.unravel_index(up.argmax(), up.shape) == (0, 0)
    assert up[:4, :4].min() == 1 and up[:8, :8].min() > 0.3  # the hot layer cell covers the top-left 8x8 pixels ...
    assert up[12:].max() == 0 and up[:, 12:].max() == 0  # ... and fades out within half a cell


def test_image_plot_draws_a_layer_sized_map_at_image_resolution_with_a_colour_bar():
    inputs = np.zeros((1, 1, 32, 32))
    values = np.zeros((1, 1, 4, 4))
    values[0, 0, 3, 3] = 2.0
    ax = _axes()
    plot_attribution(image_attribution(values, inputs), 0, ax=ax)
    drawn = ax.images[0].get_array()
    assert drawn.shape == (32, 32, 3)
    assert drawn[-1, -1].max() > drawn[0, 0].max()  # the bottom-right is coloured, the rest stays dark
    assert len(ax.figure.axes) == 2  # the map and its colour bar
    assert "test" in ax.get_title()


def test_plot_rejects_an_index_out_of_range():
    with pytest.raises(InputError, match="out of range"):
        plot_attribution(image_attribution(np.zeros((1, 1, 8, 8))), 3, ax=_axes())


# --- tabular ----------------------------------------------------------------------------------

def tabular(values, names=None):
    values = np.atleast_2d(np.asarray(values, dtype=float))
    return Attribution(values=values, inputs=np.zeros_like(values), target=[1] * len(values), layout="tabular",
                       feature_names=names, provenance={"method": "m"})


def test_bar_chart_shows_the_top_k_features_by_magnitude_in_order_with_signed_colours():
    values = [0.1, -3.0, 2.0, 0.0, -0.5, 1.5]
    names = ["a", "b", "c", "d", "e", "f"]
    ax = _axes()
    plot_tabular_attribution(tabular(values, names), 0, ax=ax, top_k=4)
    bars = sorted(ax.patches, key=lambda bar: bar.get_y())
    labels = {tick.get_position()[1]: tick.get_text() for tick in ax.get_yticklabels()}
    shown = [labels[round(bar.get_y() + bar.get_height() / 2)] for bar in bars]
    assert shown == ["b", "c", "f", "e"]  # largest |value| first (top of the chart: y axis inverted)
    assert ax.yaxis_inverted()
    assert [bar.get_width() for bar in bars] == [-3.0, 2.0, 1.5, -0.5]
    assert [to_rgba(bar.get_facecolor()) for bar in bars] == [to_rgba(c) for c in (NEGATIVE, POSITIVE, POSITIVE, NEGATIVE)]
    left, right = ax.get_xlim()
    assert left == -right  # symmetric: the side of zero is the sign


def test_magnitude_only_bars_are_grey_from_zero_and_unnamed_features_get_indices():
    ax = _axes()
    plot_tabular_attribution(tabular([[0.2, 0.0, 0.9]]), 0, ax=ax, top_k=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x[2]", "x[0]"]
    assert all(to_rgba(bar.get_facecolor()) == to_rgba(UNSIGNED) for bar in ax.patches)
    assert ax.get_xlim()[0] == 0


def test_top_features_breaks_ties_by_position():
    assert top_features(np.array([1.0, -1.0, 2.0]), 3).tolist() == [2, 0, 1]


# --- grid, html, and the core's hooks --------------------------------------------------------

def test_grid_has_a_row_per_input_and_a_column_per_method_plus_the_input():
    rng = np.random.default_rng(0)
    inputs = rng.random((3, 1, 8, 8))
    methods = {name: image_attribution(rng.normal(size=(3, 1, 8, 8)), inputs) for name in ("one", "two")}
    methods["cam"] = image_attribution(rng.random((3, 1, 2, 2)), inputs)
    fig = plot_grid(methods, row_labels=["r0", "r1", "r2"], column_labels={"one": "1 ms"})
    axes = fig.axes
    assert len(axes) == 3 * 4
    assert [ax.get_title() for ax in axes[:4]] == ["input", "one\n1 ms", "two", "cam"]
    assert [axes[4 * row].get_xlabel() for row in range(3)] == ["r0", "r1", "r2"]
    assert all(ax.images[0].get_array().shape[:2] == (8, 8) for ax in axes)


def test_tabular_grid_draws_bar_charts():
    fig = plot_grid({"a": tabular([[1.0, -2.0], [0.5, 0.1]]), "b": tabular([[3.0, 1.0], [0.0, -1.0]])}, top_k=2)
    assert len(fig.axes) == 2 * 3
    assert all(len(ax.patches) == 2 for i, ax in enumerate(fig.axes) if i % 3)


def test_grid_rejects_attributions_of_different_inputs():
    with pytest.raises(ValueError, match="samples"):
        plot_grid({"a": tabular([[1.0]]), "b": tabular([[1.0], [2.0]])})


def test_figure_to_html_embeds_a_png(tmp_path):
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    tag = figure_to_html(fig)
    match = re.fullmatch(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="attribution">', tag)
    assert match and base64.b64decode(match.group(1)).startswith(b"\x89PNG")
    path = figure_to_png(fig, tmp_path / "sub" / "f.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_single_sample_figure_for_each_layout():
    image = plot_single(image_attribution(np.ones((1, 3, 8, 8)), np.zeros((1, 3, 8, 8))), label="x", title="t")
    assert [ax.get_title() for ax in image.axes[:2]] == ["input", "t"]
    bars = plot_single(tabular([[1.0, -1.0]], ["p", "q"]), label="row")
    assert len(bars.axes[0].patches) == 2


def test_attribution_plot_and_notebook_html_use_these_pictures():
    matplotlib.use("Agg")
    attribution = tabular([[1.0, -2.0, 0.5]], ["p", "q", "r"])
    ax = attribution.plot(0, top_k=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q", "p"]
    import matplotlib.pyplot as plt

    plt.close(ax.figure)
    html = attribution._repr_html_()
    assert '<img src="data:image/png;base64,' in html
    assert not plt.get_fignums()  # the notebook figure is closed after rendering, not drawn twice
