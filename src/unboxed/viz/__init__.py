"""Pictures of explanations: heat-map overlays, feature bar charts, method grids, PNG and HTML output.

Figures drawn here never touch pyplot unless the caller asks for new axes without giving any
(`plot_attribution(..., ax=None)`), so reports and the CLI render headless with any backend.
"""
from __future__ import annotations

from .grid import plot_grid, plot_single
from .html import close_figure, figure_to_html, figure_to_png, figure_to_png_bytes
from .image import ColourScale, colour_scale, heatmap, overlay, plot_image_attribution, reduce_channels, upsample
from .tabular import plot_flat_attribution, plot_tabular_attribution, top_features
from .features import (
    plot_beeswarm, plot_feature_attribution, plot_feature_bars, plot_importance, plot_superpixels, plot_waterfall,
)
from .text import plot_text, text_html


def plot_attribution(attribution, index: int = 0, ax=None, **kwargs):
    """Draw sample `index` of an Attribution on `ax` (new axes if None); returns the Axes.

    Images ('image' layout): a heat-map overlay (keywords: `image`, `clip_percentile`, `alpha`,
    `title`, `colorbar`). Tabular: a bar chart of the top features (`top_k`, `title`,
    `show_inputs`). Other layouts: a heat strip. Per-feature attributions (`FeatureAttribution`)
    take `kind=` and are drawn by `plot_feature_attribution` (waterfall, superpixels, text, ...).
    """
    if hasattr(attribution, "names_of"):
        return plot_feature_attribution(attribution, index=index, ax=ax, **kwargs)
    if not -len(attribution) <= index < len(attribution):
        from ..errors import InputError

        raise InputError(f"index {index} is out of range for an attribution of {len(attribution)} sample(s)")
    if attribution.layout == "image":
        return plot_image_attribution(attribution, index=index, ax=ax, **kwargs)
    if attribution.layout == "tabular":
        return plot_tabular_attribution(attribution, index=index, ax=ax, **kwargs)
    return plot_flat_attribution(attribution, index=index, ax=ax, **kwargs)


__all__ = [
    "ColourScale", "close_figure", "colour_scale", "figure_to_html", "figure_to_png", "figure_to_png_bytes", "heatmap",
    "overlay", "plot_attribution", "plot_beeswarm", "plot_feature_attribution", "plot_feature_bars", "plot_flat_attribution",
    "plot_grid", "plot_image_attribution", "plot_importance", "plot_single", "plot_superpixels", "plot_tabular_attribution",
    "plot_text", "plot_waterfall", "reduce_channels", "text_html", "top_features", "upsample",
]
