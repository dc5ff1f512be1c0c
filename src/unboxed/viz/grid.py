"""Several methods side by side: rows are inputs, columns are the input itself and then each method."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .features import mark_boundaries, plot_superpixels, plot_waterfall, resize_labels, superpixel_heat
from .image import colour_scale, heatmap, input_to_image, is_signed, overlay, to_rgb
from .tabular import plot_flat_attribution, plot_tabular_attribution
from .text import plot_text

IMAGE_NOTE = (
    "Each map has its own colour scale (|values| clipped at the 99th percentile). "
    "Signed maps: blue < 0 < red, white/transparent = 0. Non-negative maps: transparent = 0, bright = most relevant."
)
TABULAR_NOTE = (
    "Top features by |attribution| per method, largest on top. Red raises the target score, blue lowers it; "
    "grey: magnitude only (the method gives no sign)."
)
TEXT_NOTE = (
    "Each word on a background coloured by its attribution: red raises the target score, blue lowers it; "
    "the stronger the colour, the larger |value| (scaled per text and method)."
)
WATERFALL_NOTE = (
    "From the base value (every feature removed) up to the explained score f(x): each bar is one feature's value. "
    "A grey bar is what the values leave unexplained (methods that are not efficient)."
)


def plot_grid(attributions: Mapping[str, object], images: Sequence[np.ndarray] | np.ndarray | None = None,
              row_labels: Sequence[str] | None = None, column_labels: Mapping[str, str] | None = None,
              title: str | None = None, top_k: int = 8, cell_size: float = 2.0, note: bool = True) -> Figure:
    """A figure with one row per input and one column per method (plus the input for images).

    `attributions` maps a column name to an Attribution; all must explain the same inputs (same
    number of samples and layout). `images`: pictures to draw for image inputs (n, h, w[, c]) in
    [0, 1] (by default the inputs rescaled); `row_labels`: a line or two about each input (shown
    under the input; for tabular data in a text column); `column_labels`: a subtitle per column.
    The figure is a plain `matplotlib.figure.Figure` (no pyplot state): save it with
    `figure_to_png` or `figure_to_html`.
    """
    if not attributions:
        raise ValueError("plot_grid needs at least one attribution")
    names = list(attributions)
    first = attributions[names[0]]
    n = len(first)
    for name in names:
        if len(attributions[name]) != n:
            raise ValueError(f"attribution {name!r} has {len(attributions[name])} samples, {names[0]!r} has {n}")
    column_labels = dict(column_labels or {})
    layout = first.layout
    signed = {name: is_signed(attributions[name].input_values()) for name in names}
    if layout == "tabular":
        width, height = 1.7 + 3.3 * len(names), 0.45 + (0.24 * top_k + 0.55) * n
        ratios = [0.5] + [1.0] * len(names)
    elif layout == "text":
        width, height = 1.7 + 3.2 * len(names), 0.6 + 1.5 * n
        ratios = [0.5] + [1.0] * len(names)
    else:
        width, height = cell_size * (1 + len(names)) + 0.3, cell_size * 1.12 * n + 0.6
        ratios = [1.0] * (1 + len(names))
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, 1 + len(names), squeeze=False, gridspec_kw={"width_ratios": ratios}))
    if layout == "text":
        fig.draw_without_rendering()  # lay the axes out once, so that words wrap to the cells' real width
    for row in range(n):
        label = row_labels[row] if row_labels is not None else f"sample {row}"
        if layout == "image":
            picture = to_rgb(images[row]) if images is not None else to_rgb(input_to_image(first.inputs[row]))
            _draw_input(axes[row, 0], picture, label, row == 0)
        else:
            picture = None
            _draw_text(axes[row, 0], label, row == 0)
        for col, name in enumerate(names, start=1):
            ax = axes[row, col]
            attribution = attributions[name]
            header = name + (f"\n{column_labels[name]}" if name in column_labels else "")
            if layout == "image":
                segments = getattr(attribution, "segments", None)
                if segments is not None:  # superpixels: their exact values, and their outlines
                    heat = resize_labels(superpixel_heat(attribution, row), picture.shape[:2])
                    scale = colour_scale(heat, signed=signed[name])
                    ax.imshow(mark_boundaries(overlay(picture, heat, scale), segments[row]), interpolation="antialiased")
                else:
                    heat = heatmap(attribution.input_values()[row], picture.shape[:2])
                    scale = colour_scale(heat, signed=signed[name])
                    ax.imshow(overlay(picture, heat, scale), interpolation=_interpolation(picture))
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(header, fontsize=9)
            elif layout == "tabular":
                plot_tabular_attribution(attribution, row, ax=ax, top_k=top_k, title=header if row == 0 else "", fontsize=7)
            elif layout == "text" and hasattr(attribution, "names_of"):
                plot_text(attribution, row, ax=ax, title=header if row == 0 else "", fontsize=9)
            else:
                plot_flat_attribution(attribution, row, ax=ax, title=header if row == 0 else "", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    if note:
        add_note(fig, {"tabular": TABULAR_NOTE, "text": TEXT_NOTE}.get(layout, IMAGE_NOTE))
    return fig


def add_note(fig: Figure, text: str, fontsize: float = 7) -> None:
    """A small grey note under the figure, wrapped to the figure's width."""
    import textwrap

    chars = max(30, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))
    fig.supxlabel(textwrap.fill(text, chars), fontsize=fontsize, color="0.35")


def _draw_input(ax, picture: np.ndarray, label: str, first_row: bool) -> None:
    ax.imshow(picture, interpolation=_interpolation(picture))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(label, fontsize=8)
    if first_row:
        ax.set_title("input", fontsize=9)


def _draw_text(ax, label: str, first_row: bool) -> None:
    ax.axis("off")
    if first_row:
        ax.set_title("input", fontsize=9)
    ax.text(0.0, 0.5, label, fontsize=8, va="center", ha="left", transform=ax.transAxes, wrap=True)


def _interpolation(picture: np.ndarray) -> str:
    """Small images (digits) show their pixels; large photos are anti-aliased when shrunk."""
    return "antialiased" if max(picture.shape[:2]) > 64 else "nearest"


def plot_single(attribution, index: int = 0, image: np.ndarray | None = None, label: str | None = None,
                title: str | None = None, top_k: int = 15) -> Figure:
    """One sample on its own: the input and its heat map with a colour bar, or a bar chart of the top features.

    Per-feature attributions (`FeatureAttribution`) get superpixel outlines on images, a
    waterfall from the base value to f(x) on tables, and highlighted words on text.
    `label`: text about the input (under the picture, or under the chart); `title`: the map's title.
    """
    from .image import plot_image_attribution

    per_feature = hasattr(attribution, "names_of")
    if per_feature and attribution.layout == "text":
        fig = Figure(figsize=(7, 2.4), layout="constrained")
        ax = fig.subplots()
        fig.draw_without_rendering()
        plot_text(attribution, index, ax=ax, title=title, fontsize=11)
        if label:
            ax.set_xlabel(label.replace("\n", "; "), fontsize=8)
        add_note(fig, TEXT_NOTE)
        return fig
    if per_feature and attribution.layout == "tabular" and attribution.scores is not None:
        fig = Figure(figsize=(7, 0.9 + 0.3 * min(top_k, len(attribution.names_of(index)) + 1)), layout="constrained")
        ax = fig.subplots()
        plot_waterfall(attribution, index, ax=ax, max_display=top_k, title=title)
        if label:
            ax.set_xlabel(label.replace("\n", "; ") + "\n" + ax.get_xlabel(), fontsize=8)
        add_note(fig, WATERFALL_NOTE)
        return fig
    if attribution.layout == "image":
        fig = Figure(figsize=(8.4, 4.2), layout="constrained")
        left, right = fig.subplots(1, 2)
        picture = to_rgb(image) if image is not None else to_rgb(input_to_image(attribution.inputs[index]))
        _draw_input(left, picture, label or f"sample {index}", True)
        if per_feature and attribution.segments is not None:
            plot_superpixels(attribution, index, ax=right, image=picture, title=title)
        else:
            plot_image_attribution(attribution, index, ax=right, image=picture, title=title)
        add_note(fig, IMAGE_NOTE)
        return fig
    if attribution.layout == "tabular":
        fig = Figure(figsize=(6.5, 0.8 + 0.3 * top_k), layout="constrained")
        ax = fig.subplots()
        plot_tabular_attribution(attribution, index, ax=ax, top_k=top_k, title=title)
        if label:
            ax.set_xlabel(label.replace("\n", "; "), fontsize=8)
        add_note(fig, TABULAR_NOTE)
        return fig
    fig = Figure(figsize=(7, 3), layout="constrained")
    plot_flat_attribution(attribution, index, ax=fig.subplots(), title=title)
    return fig
