"""Bar charts for tabular attributions: the top-k features by |value|, signed colours, feature names."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from .image import DIVERGING, _axes, default_title, is_signed

POSITIVE = colormaps[DIVERGING](0.85)  # the same reds and blues as the image heat maps
NEGATIVE = colormaps[DIVERGING](0.15)
UNSIGNED = "0.45"  # magnitudes only (e.g. |gradient|): no sign to colour


def top_features(values: np.ndarray, k: int = 10) -> np.ndarray:
    """Indices of the `k` features with the largest |value|, largest first (ties: lower index first).

    >>> top_features(np.array([0.1, -3.0, 2.0, 0.0]), k=2).tolist()
    [1, 2]
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(-np.abs(values), kind="stable")
    return order[: max(0, int(k))]


def feature_labels(attribution, n_features: int) -> list[str]:
    names = attribution.feature_names
    if names is not None and len(names) == n_features:
        return [str(name) for name in names]
    return [f"x[{i}]" for i in range(n_features)]


def plot_tabular_attribution(attribution, index: int = 0, ax=None, top_k: int = 10, title: str | None = None,
                             show_inputs: bool = False, fontsize: float = 8):
    """Horizontal bars of the `top_k` features of sample `index` by |attribution|, largest on top.

    Red bars push the target score up, blue bars push it down; an attribution with no negative
    value in any sample (magnitudes, like |gradient|) is drawn in grey from 0. With `show_inputs`
    each label also gives the feature's input value.
    """
    ax = _axes(ax)
    values = np.asarray(attribution.values[index], dtype=np.float64).ravel()
    inputs = np.asarray(attribution.inputs[index], dtype=np.float64).ravel()
    labels = feature_labels(attribution, values.size)
    chosen = top_features(values, top_k)
    shown = values[chosen]
    names = [f"{labels[i]} = {inputs[i]:.3g}" if show_inputs and inputs.size == values.size else labels[i] for i in chosen]
    positions = np.arange(len(chosen))
    signed = is_signed(attribution.values)
    colours = [(POSITIVE if v >= 0 else NEGATIVE) if signed else UNSIGNED for v in shown]
    ax.barh(positions, shown, color=colours, height=0.75)
    ax.set_yticks(positions, names, fontsize=fontsize)
    ax.invert_yaxis()  # largest on top
    ax.axvline(0, color="0.3", linewidth=0.8)
    limit = float(np.abs(shown).max()) if shown.size else 1.0
    limit = limit if limit > 0 else 1.0
    ax.set_xlim(-1.1 * limit if signed else 0, 1.1 * limit)  # symmetric when signed: left/right reads as sign
    ax.tick_params(axis="x", labelsize=fontsize - 1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title if title is not None else default_title(attribution, index), fontsize=fontsize + 1)
    return ax


def plot_flat_attribution(attribution, index: int = 0, ax=None, title: str | None = None, fontsize: float = 8):
    """Any other layout ('sequence', 'tensor'): the flattened map as a diverging heat strip."""
    from .image import colour_scale

    ax = _axes(ax)
    values = np.asarray(attribution.values[index], dtype=np.float64)
    strip = values.reshape(values.shape[0], -1) if values.ndim > 1 else values[None, :]
    scale = colour_scale(strip)
    ax.imshow(strip, cmap=scale.cmap, norm=scale.norm, aspect="auto", interpolation="nearest")
    ax.set_title(title if title is not None else default_title(attribution, index), fontsize=fontsize + 1)
    ax.tick_params(labelsize=fontsize - 1)
    return ax
