"""Pictures of per-feature attributions (table columns, superpixels, words) and of global importances.

- `plot_waterfall`: one row, from the base value to f(x), one bar per feature (SHAP's waterfall);
- `plot_feature_bars`: one row, the top features by |value|;
- `plot_beeswarm`: many rows of a table, one line of dots per feature coloured by the feature's value;
- `plot_superpixels`: one image, the value of every superpixel with the superpixels' outlines;
- `plot_importance`: a global `FeatureImportance` (permutation importance) with its spread;
- `plot_feature_attribution`: picks one of these (or highlighted text) for an attribution's layout.
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from ..errors import InputError
from .image import _axes, colour_scale, default_title, input_to_image, is_signed, overlay, show_overlay, to_rgb
from .tabular import NEGATIVE, POSITIVE, UNSIGNED, top_features

KINDS = ("waterfall", "bar", "beeswarm", "superpixels", "text")
FEATURE_VALUE_MAP = "coolwarm"  # beeswarm dots: blue = low feature value, red = high (not the sign of the attribution)
BOUNDARY = np.array([1.0, 0.85, 0.0])  # superpixel outlines: yellow shows on red, blue and grey alike
RESIDUAL = "0.6"


def plot_feature_attribution(attribution, index: int = 0, ax=None, kind: str | None = None, **kwargs):
    """Draw a `FeatureAttribution`: `kind` is one of `KINDS`; None picks by layout (a waterfall for
    tables with scores, bars when `top_k` is given; superpixels for images; highlighted words for
    text). Other keywords go to the drawing function. Returns the Axes.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from unboxed.explanation import FeatureAttribution
    >>> row = FeatureAttribution(values=np.array([[1.0, -0.5]]), inputs=np.zeros((1, 2)), scores=np.array([0.7]),
    ...                          base=np.array([0.2]), feature_names=["a", "b"])
    >>> ax = plot_feature_attribution(row, 0, ax=Figure().subplots())
    >>> [round(float(bar.get_x() + bar.get_width()), 3) for bar in ax.patches][-1]  # the top bar ends at f(x)
    0.7
    """
    if kind is None:
        kind = {"image": "superpixels", "text": "text"}.get(attribution.layout)
        if kind is None:
            kind = "waterfall" if attribution.scores is not None and "top_k" not in kwargs else "bar"
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    if kind == "beeswarm":
        return plot_beeswarm(attribution, ax=ax, **kwargs)
    if not -len(attribution) <= index < len(attribution):
        raise InputError(f"index {index} is out of range for an attribution of {len(attribution)} sample(s)")
    if kind == "text":
        from .text import plot_text

        return plot_text(attribution, index, ax=ax, **kwargs)
    drawer = {"waterfall": plot_waterfall, "bar": plot_feature_bars, "superpixels": plot_superpixels}[kind]
    return drawer(attribution, index, ax=ax, **kwargs)


def row_of(attribution, index: int) -> tuple[np.ndarray, list[str]]:
    """The values and names of the real features of sample `index` (padding cut off).

    >>> from unboxed.explanation import FeatureAttribution
    >>> words = FeatureAttribution(values=np.array([[1.0, 0.0]]), inputs=np.array(["hi"]), layout="text",
    ...                            feature_names=[["hi"]], counts=np.array([1]))
    >>> row_of(words, 0)
    (array([1.]), ['hi'])
    """
    names = attribution.names_of(index) if hasattr(attribution, "names_of") else _plain_names(attribution)
    values = np.asarray(attribution.values[index], dtype=np.float64).ravel()[: len(names)]
    return values, names


def _plain_names(attribution) -> list[str]:
    width = int(np.prod(attribution.values.shape[1:]))
    names = attribution.feature_names
    return [str(n) for n in names] if names is not None and len(names) == width else [f"x[{j}]" for j in range(width)]


def _labels_with_inputs(attribution, index: int, names: list[str]) -> list[str]:
    """'name = input value' when every feature is one table column; the names alone otherwise."""
    if attribution.layout != "tabular":
        return names
    inputs = np.asarray(attribution.inputs[index], dtype=np.float64).ravel()
    segments = getattr(attribution, "segments", None)
    one_column_each = inputs.size == len(names) and (segments is None or np.array_equal(segments[index], np.arange(len(names))))
    return [f"{name} = {value:.3g}" for name, value in zip(names, inputs)] if one_column_each else names


def plot_waterfall(attribution, index: int = 0, ax=None, max_display: int = 10, title: str | None = None,
                   fontsize: float = 8):
    """From the base value up to f(x): one bar per feature, largest |value| on top.

    Each bar starts where the one below it ended and is as long as its feature's value (red
    raises the score, blue lowers it); features past `max_display - 1` are folded into one
    "N other features" bar. When the values do not add up to f(x) - base (methods that are not
    efficient, like ablation), a grey "not attributed" bar shows the gap, so the top bar still
    ends at f(x). Without a base value the chart starts at f(x) - sum(values).
    """
    ax = _axes(ax)
    values, names = row_of(attribution, index)
    if attribution.scores is None:
        raise InputError("a waterfall needs the explained score f(x) (the attribution's scores)")
    score = float(attribution.scores[index])
    has_base = attribution.base is not None
    base = float(attribution.base[index]) if has_base else score - float(values.sum())
    labels = _labels_with_inputs(attribution, index, names)
    order = top_features(values, len(values))
    if len(order) > max_display:
        shown, folded = order[: max_display - 1], order[max_display - 1 :]
    else:
        shown, folded = order, order[:0]
    steps = [(labels[j], values[j], POSITIVE if values[j] >= 0 else NEGATIVE) for j in shown]  # top to bottom
    if len(folded):
        rest = float(values[folded].sum())
        steps.append((f"{len(folded)} other features", rest, POSITIVE if rest >= 0 else NEGATIVE))
    gap = score - base - float(values.sum())
    if abs(gap) > 1e-9 * max(1.0, abs(score), float(np.abs(values).sum())):
        steps.append(("not attributed (interactions)", gap, RESIDUAL))
    steps.reverse()  # drawn from the base value at the bottom up to f(x) at the top
    lefts = base + np.concatenate([[0.0], np.cumsum([value for _, value, _ in steps])[:-1]])
    positions = np.arange(len(steps))
    widths = [value for _, value, _ in steps]
    ax.barh(positions, widths, left=lefts, color=[colour for _, _, colour in steps], height=0.7)
    span = max(float(np.max(np.abs(widths))) if widths else 0.0, 1e-12)
    for y, left, width in zip(positions, lefts, widths):
        end = left + width
        ax.text(end + np.sign(width or 1) * 0.02 * span, y, f"{width:+.3g}", va="center",
                ha="left" if width >= 0 else "right", fontsize=fontsize - 1)
    ax.set_yticks(positions, [label for label, _, _ in steps], fontsize=fontsize)
    ax.axvline(base, color="0.5", linestyle=":", linewidth=0.9)
    ax.axvline(score, color="0.2", linestyle="--", linewidth=0.9)
    ends = np.concatenate([[base, score], lefts, lefts + np.asarray(widths)])
    low, high = float(ends.min()), float(ends.max())
    pad = 0.15 * max(high - low, 1e-12)
    ax.set_xlim(low - pad, high + pad)
    start = "base value" if has_base else "f(x) - sum of values"
    ax.set_xlabel(f"{start} {base:.3g} (dotted)  →  f(x) = {score:.3g} (dashed)", fontsize=fontsize)
    ax.tick_params(axis="x", labelsize=fontsize - 1)
    ax.set_title(title if title is not None else default_title(attribution, index), fontsize=fontsize + 1)
    return ax


def plot_feature_bars(attribution, index: int = 0, ax=None, top_k: int = 10, title: str | None = None,
                      fontsize: float = 8):
    """Horizontal bars of the `top_k` features of sample `index` by |value|, largest on top (red +, blue -).

    >>> from matplotlib.figure import Figure
    >>> from unboxed.explanation import FeatureAttribution
    >>> row = FeatureAttribution(values=np.array([[0.5, -2.0]]), inputs=np.zeros((1, 2)), feature_names=["a", "b"])
    >>> [float(bar.get_width()) for bar in plot_feature_bars(row, 0, ax=Figure().subplots()).patches]
    [-2.0, 0.5]
    """
    ax = _axes(ax)
    values, names = row_of(attribution, index)
    labels = _labels_with_inputs(attribution, index, names)
    chosen = top_features(values, top_k)
    signed = is_signed(attribution.values)
    colours = [(POSITIVE if values[j] >= 0 else NEGATIVE) if signed else UNSIGNED for j in chosen]
    positions = np.arange(len(chosen))
    ax.barh(positions, values[chosen], color=colours, height=0.75)
    ax.set_yticks(positions, [labels[j] for j in chosen], fontsize=fontsize)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", linewidth=0.8)
    limit = float(np.abs(values[chosen]).max()) if len(chosen) else 0.0
    limit = limit if limit > 0 else 1.0
    ax.set_xlim(-1.1 * limit if signed else 0, 1.1 * limit)
    ax.tick_params(axis="x", labelsize=fontsize - 1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title if title is not None else default_title(attribution, index), fontsize=fontsize + 1)
    return ax


def feature_values(attribution) -> np.ndarray:
    """Each feature's input value per row (n, features), for colouring: a group of columns gets the
    mean of its columns after standardising each over the rows.

    >>> from unboxed.explanation import FeatureAttribution
    >>> pair = FeatureAttribution(values=np.zeros((2, 1)), inputs=np.array([[0.0, 10.0], [2.0, 30.0]]),
    ...                           segments=np.zeros((2, 2), dtype=int))
    >>> feature_values(pair).ravel().tolist()
    [-1.0, 1.0]
    """
    inputs = np.asarray(attribution.inputs, dtype=np.float64).reshape(len(attribution), -1)
    segments = getattr(attribution, "segments", None)
    width = attribution.values.shape[1]
    if segments is None or np.array_equal(segments[0], np.arange(width)):
        return inputs
    spread = inputs.std(0)
    standard = (inputs - inputs.mean(0)) / np.where(spread > 0, spread, 1.0)
    members = np.zeros((inputs.shape[1], width))
    members[np.arange(inputs.shape[1]), segments[0]] = 1.0
    return standard @ members / np.maximum(members.sum(0), 1.0)


def swarm_offsets(x: np.ndarray, n_bins: int = 60, spread: float = 0.4) -> np.ndarray:
    """Vertical offsets that pile dots with close x values next to each other (0, +1, -1, +2, ...),
    scaled so that no dot leaves +-`spread` around its line.

    >>> swarm_offsets(np.array([0.0, 0.0, 0.0, 5.0]), spread=0.4).tolist()
    [0.0, -0.4, 0.4, 0.0]
    """
    x = np.asarray(x, dtype=np.float64)
    low, high = float(x.min()), float(x.max())
    bins = np.floor((x - low) / max(high - low, 1e-12) * (n_bins - 1)).astype(int)
    order = np.lexsort((np.arange(len(x)), bins))
    sorted_bins = bins[order]
    first = np.searchsorted(sorted_bins, sorted_bins, side="left")
    rank = np.arange(len(x)) - first
    steps = np.ceil(rank / 2) * np.where(rank % 2 == 1, -1.0, 1.0)
    offsets = np.empty(len(x))
    offsets[order] = steps
    largest = float(np.abs(offsets).max()) if len(x) else 0.0
    return offsets * (spread / largest if largest > 0 else 0.0)


def plot_beeswarm(attribution, ax=None, max_display: int = 12, title: str | None = None, fontsize: float = 8,
                  colorbar: bool = True):
    """A summary over many rows of a table: one line per feature (largest mean |value| on top),
    one dot per row at its value, coloured by the feature's value in that row (blue low, red high).

    >>> from matplotlib.figure import Figure
    >>> from unboxed.explanation import FeatureAttribution
    >>> rows = FeatureAttribution(values=np.array([[0.1, 2.0], [0.2, -1.0]]), inputs=np.ones((2, 2)), feature_names=["a", "b"])
    >>> [t.get_text() for t in plot_beeswarm(rows, ax=Figure().subplots()).get_yticklabels()]
    ['b', 'a']
    """
    if attribution.layout != "tabular":
        raise InputError("a beeswarm compares the same features across rows: it needs a tabular attribution")
    ax = _axes(ax)
    values = np.asarray(attribution.values, dtype=np.float64).reshape(len(attribution), -1)
    names = _plain_names(attribution) if not hasattr(attribution, "names_of") else attribution.names_of(0)
    colours = feature_values(attribution)
    chosen = np.argsort(-np.abs(values).mean(0), kind="stable")[:max_display]
    cmap = colormaps[FEATURE_VALUE_MAP]
    for position, j in enumerate(chosen):
        low, high = np.percentile(colours[:, j], [5, 95])
        shade = np.clip((colours[:, j] - low) / (high - low), 0, 1) if high > low else np.full(len(values), 0.5)
        ax.scatter(values[:, j], position + swarm_offsets(values[:, j]), c=cmap(shade), s=12, linewidths=0, alpha=0.9)
    ax.set_yticks(np.arange(len(chosen)), [names[j] for j in chosen], fontsize=fontsize)
    ax.set_ylim(len(chosen) - 0.5, -0.5)  # the most important feature on top
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel("attribution (impact on the score)", fontsize=fontsize)
    ax.tick_params(axis="x", labelsize=fontsize - 1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title if title is not None else f"{attribution.method}: {len(values)} rows", fontsize=fontsize + 1)
    if colorbar:
        from matplotlib.cm import ScalarMappable

        bar = ax.figure.colorbar(ScalarMappable(cmap=cmap), ax=ax, fraction=0.04, pad=0.02, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"], fontsize=fontsize - 1)
        bar.set_label("feature value", fontsize=fontsize - 1)
    return ax


def superpixel_heat(attribution, index: int) -> np.ndarray:
    """(H, W): every pixel holds the value of its superpixel (not summed over channels).

    >>> from unboxed.explanation import FeatureAttribution
    >>> halves = FeatureAttribution(values=np.array([[1.0, -1.0]]), inputs=np.zeros((1, 3, 1, 2)), layout="image",
    ...                             segments=np.array([[[0, 1]]]))
    >>> superpixel_heat(halves, 0).tolist()
    [[1.0, -1.0]]
    """
    return np.asarray(attribution.values[index], dtype=np.float64)[np.asarray(attribution.segments[index])]


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map (segments stay whole numbers).

    >>> resize_labels(np.array([[0, 1]]), (2, 4)).tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1]]
    """
    labels = np.asarray(labels)
    if labels.shape == tuple(size):
        return labels
    rows = (np.arange(size[0]) + 0.5) * labels.shape[0] / size[0]
    cols = (np.arange(size[1]) + 0.5) * labels.shape[1] / size[1]
    return labels[rows.astype(int)[:, None], cols.astype(int)[None, :]]


def mark_boundaries(rgb: np.ndarray, segments: np.ndarray, opacity: float = 0.8, min_size: int = 96) -> np.ndarray:
    """The picture with the outlines of `segments` drawn in yellow, one pixel wide.

    Small pictures (digits) are first enlarged (nearest neighbour) to at least `min_size` pixels,
    so that the outlines stay thin next to the pixels they surround.

    >>> marked = mark_boundaries(np.zeros((2, 2, 3)), np.array([[0, 1], [0, 1]]), min_size=2)
    >>> marked[:, 0].round(2).tolist()  # the left segment's pixels next to the right one
    [[0.8, 0.68, 0.0], [0.8, 0.68, 0.0]]
    """
    factor = max(1, -(-min_size // max(rgb.shape[:2])))
    rgb = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
    labels = resize_labels(segments, rgb.shape[:2])
    edges = np.zeros(labels.shape, dtype=bool)
    edges[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    marked = rgb.copy()
    marked[edges] = (1 - opacity) * marked[edges] + opacity * BOUNDARY
    return marked


def plot_superpixels(attribution, index: int = 0, ax=None, image: np.ndarray | None = None,
                     clip_percentile: float = 99.0, alpha: float = 0.85, title: str | None = None, colorbar: bool = True,
                     boundaries: bool = True):
    """Each superpixel coloured by its value over a grey copy of the image, outlines in yellow.

    `image`: the picture to draw under the map, (h, w[, c]) in [0, 1]; by default the input.

    >>> from matplotlib.figure import Figure
    >>> from unboxed.explanation import FeatureAttribution
    >>> halves = FeatureAttribution(values=np.array([[1.0, -1.0]]), inputs=np.zeros((1, 1, 4, 4)), layout="image",
    ...                             segments=np.repeat([[[0, 0, 1, 1]]], 4, axis=1))
    >>> plot_superpixels(halves, 0, ax=Figure().subplots()).images[0].get_array().shape
    (96, 96, 3)
    """
    if getattr(attribution, "segments", None) is None or attribution.layout != "image":
        raise InputError("a superpixel picture needs an image attribution with segments (from an ImageMasker)")
    ax = _axes(ax)
    rgb = to_rgb(image if image is not None else input_to_image(attribution.inputs[index]))
    heat = resize_labels(superpixel_heat(attribution, index), rgb.shape[:2])
    scale = colour_scale(heat, clip_percentile, signed=is_signed(attribution.values))
    picture = overlay(rgb, heat, scale, alpha)
    if boundaries:
        picture = mark_boundaries(picture, attribution.segments[index])
    show_overlay(ax, picture, scale, title if title is not None else default_title(attribution, index), colorbar)
    return ax


def plot_importance(importance, ax=None, top_k: int = 15, title: str | None = None, fontsize: float = 8):
    """Bars of a `FeatureImportance`, largest on top, one standard deviation over the repeats as error bars.

    >>> from matplotlib.figure import Figure
    >>> from unboxed.explanation import FeatureImportance
    >>> result = FeatureImportance(repeats=np.array([[0.1], [0.3]]), feature_names=["a", "b"], baseline=0.9, n_rows=5)
    >>> [t.get_text() for t in plot_importance(result, ax=Figure().subplots()).get_yticklabels()]
    ['b', 'a']
    """
    ax = _axes(ax)
    values = np.asarray(importance.importances, dtype=np.float64)
    chosen = np.argsort(-values, kind="stable")[:top_k]
    colours = [POSITIVE if values[j] > 0 else NEGATIVE if values[j] < 0 else UNSIGNED for j in chosen]
    positions = np.arange(len(chosen))
    ax.barh(positions, values[chosen], xerr=np.asarray(importance.stds)[chosen], color=colours, height=0.7,
            error_kw={"ecolor": "0.25", "elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(positions, [str(importance.feature_names[j]) for j in chosen], fontsize=fontsize)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelsize=fontsize - 1)
    compared = "its own predictions" if importance.labels == "predictions" else "the labels"
    ax.set_xlabel(f"drop in {importance.metric} when shuffled (score {importance.baseline:.3g} on {importance.n_rows} rows, "
                  f"vs {compared}; ± 1 std over {importance.repeats.shape[1]} shuffles)", fontsize=fontsize)
    ax.set_title(title if title is not None else importance.method, fontsize=fontsize + 1)
    return ax
