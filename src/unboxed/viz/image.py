"""Heat-map overlays for image attributions.

A map is reduced to one value per pixel (summed over channels), upsampled to the image when it
is smaller (layer-sized CAMs), and drawn over a grey copy of the image. Signed maps use a
diverging colour map centred at 0 with symmetric limits; non-negative maps a sequential one.
The overlay is opaque where |attribution| is large and transparent where it is 0, so the image
shows through wherever the method says nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, Normalize

DIVERGING = "RdBu_r"  # blue = negative, white = 0, red = positive
SEQUENTIAL = "inferno"  # black = 0, yellow = most relevant


@dataclass(frozen=True)
class ColourScale:
    """How map values become colours: a colour map, its limits, and whether the map is signed."""

    cmap: Colormap
    norm: Normalize
    signed: bool

    def strength(self, heat: np.ndarray) -> np.ndarray:
        """How far each value is from 'no relevance', in [0, 1] (0 at value 0, 1 at the limits)."""
        position = np.clip(self.norm(heat).filled(0.5 if self.signed else 0.0), 0, 1)
        return np.abs(position - 0.5) * 2 if self.signed else position


def reduce_channels(values: np.ndarray) -> np.ndarray:
    """One sample's map as (h, w): channels (the first axis of a (c, h, w) map) are summed."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 3:
        return values.sum(axis=0)
    if values.ndim == 2:
        return values
    raise ValueError(f"an image attribution map must be (channels, h, w) or (h, w), got shape {values.shape}")


def upsample(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a (h, w) map to `size`, pixel centres aligned (as torch's align_corners=False)."""
    heat = np.asarray(heat, dtype=np.float64)
    if heat.shape == tuple(size):
        return heat
    from scipy.ndimage import map_coordinates

    rows = (np.arange(size[0]) + 0.5) * heat.shape[0] / size[0] - 0.5
    cols = (np.arange(size[1]) + 0.5) * heat.shape[1] / size[1] - 0.5
    grid = np.meshgrid(rows, cols, indexing="ij")
    return map_coordinates(heat, grid, order=1, mode="nearest")


def heatmap(values: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """One value per pixel: the channel sum of `values`, upsampled to `size` (h, w) if given."""
    heat = reduce_channels(values)
    return upsample(heat, size) if size is not None else heat


def colour_scale(heat: np.ndarray, clip_percentile: float = 99.0, signed: bool | None = None) -> ColourScale:
    """Diverging scale centred at 0 with limits (-m, m) for signed maps, sequential (0, m) otherwise.

    `m` is the `clip_percentile` of |heat|, so a few extreme pixels do not wash out the rest.
    `signed`: None decides from the data (signed when any value is negative); pass True/False
    to decide for a whole attribution at once (`is_signed(attribution.values)`), so every
    sample of one method is drawn on the same kind of scale.

    >>> scale = colour_scale(np.array([[-1.0, 0.0], [0.5, 2.0]]), clip_percentile=100)
    >>> scale.signed, float(scale.norm.vmin), float(scale.norm.vmax), float(scale.norm(0.0))
    (True, -2.0, 2.0, 0.5)
    """
    heat = np.asarray(heat, dtype=np.float64)
    finite = heat[np.isfinite(heat)]
    if signed is None:
        signed = is_signed(finite)
    limit = float(np.percentile(np.abs(finite), clip_percentile)) if finite.size else 0.0
    if limit <= 0:
        limit = float(np.abs(finite).max()) if finite.size else 0.0
    if limit <= 0:
        limit = 1.0  # an all-zero map: any limits draw it as 'no relevance'
    if signed:
        return ColourScale(colormaps[DIVERGING], Normalize(-limit, limit), True)
    return ColourScale(colormaps[SEQUENTIAL], Normalize(0.0, limit), False)


def is_signed(values: np.ndarray) -> bool:
    """Whether a map has negative values (a signed map) rather than magnitudes only."""
    values = np.asarray(values)
    return bool(values.size and np.nanmin(values) < 0)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """An image as float RGB (h, w, 3) in [0, 1], from (h, w), (h, w, 1), (h, w, 3) or (h, w, 4)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"expected an image (h, w[, channels]), got shape {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.clip(image[..., :3], 0, 1)


def input_to_image(inputs: np.ndarray) -> np.ndarray:
    """A best-effort picture of a (c, h, w) model input: channels last, each image scaled to [0, 1]."""
    inputs = np.asarray(inputs, dtype=np.float64)
    image = np.moveaxis(inputs, 0, -1) if inputs.ndim == 3 else inputs
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def overlay(image: np.ndarray, heat: np.ndarray, scale: ColourScale, alpha: float = 0.85,
            gamma: float = 0.6) -> np.ndarray:
    """RGB (h, w, 3): the image in grey, blended with the heat map's colours by each pixel's strength.

    Where the map is 0 the pixel is exactly the grey image; at the limits it is `alpha` colour.
    The blend weight is `alpha * strength ** gamma`: gamma < 1 keeps weak but non-zero
    relevance visible (pixel-level maps are sparse). Colours themselves are not changed.
    """
    rgb = to_rgb(image)
    if heat.shape != rgb.shape[:2]:
        heat = upsample(heat, rgb.shape[:2])
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    base = np.repeat((0.15 + 0.7 * grey)[..., None], 3, axis=-1)
    colours = scale.cmap(np.clip(scale.norm(heat).filled(0.5 if scale.signed else 0.0), 0, 1))[..., :3]
    weight = alpha * scale.strength(heat)[..., None] ** gamma
    return (1 - weight) * base + weight * colours


def plot_image_attribution(attribution, index: int = 0, ax=None, image: np.ndarray | None = None,
                           clip_percentile: float = 99.0, alpha: float = 0.85, title: str | None = None,
                           colorbar: bool = True):
    """Draw sample `index` of an image attribution as a heat-map overlay; returns the Axes.

    `image`: the picture to draw under the map, (h, w[, c]) in [0, 1] (e.g. a zoo model's
    `display(inputs)[i]`); by default the input itself, rescaled to [0, 1].
    """

    ax = _axes(ax)
    if image is None:
        image = input_to_image(attribution.inputs[index])
    rgb = to_rgb(image)
    heat = heatmap(attribution.input_values()[index], rgb.shape[:2])
    scale = colour_scale(heat, clip_percentile, signed=is_signed(attribution.input_values()))
    show_overlay(ax, overlay(rgb, heat, scale, alpha), scale, title if title is not None else default_title(attribution, index),
                 colorbar)
    return ax


def show_overlay(ax, picture: np.ndarray, scale, title: str, colorbar: bool) -> None:
    """Draw an overlay picture on `ax` without ticks, with its title and optionally a colour bar."""
    ax.imshow(picture, interpolation="antialiased" if max(picture.shape[:2]) > 64 else "nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    if colorbar:
        from matplotlib.cm import ScalarMappable

        bar = ax.figure.colorbar(ScalarMappable(scale.norm, scale.cmap), ax=ax, fraction=0.046, pad=0.04)
        bar.ax.tick_params(labelsize=7)


def default_title(attribution, index: int) -> str:
    target = attribution.target[index] if isinstance(attribution.target, list) else attribution.target
    return f"{attribution.method} (target {target})" if target is not None else attribution.method


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only when the caller gave no axes (interactive use)

    return plt.subplots(figsize=(4, 3.4))[1]
