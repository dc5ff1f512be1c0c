"""Highlighted text: every word on a background coloured by its attribution (red raises the
score, blue lowers it, stronger colour = larger |value|), as an HTML snippet or a matplotlib picture."""
from __future__ import annotations

import html

import numpy as np

from ..errors import InputError
from .image import _axes, default_title
from .tabular import NEGATIVE, POSITIVE

MAX_OPACITY = 0.85
CHAR_WIDTH = 0.6  # a monospace character is this many font sizes wide (DejaVu Sans Mono)
LINE_HEIGHT = 1.9  # in font sizes: room for the coloured boxes


def word_colours(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """RGBA (words, 4): the sign picks red or blue, |value| / limit the opacity (limit: max |value|).

    >>> word_colours(np.array([2.0, -1.0, 0.0]))[:, 3].round(3).tolist()
    [0.85, 0.425, 0.0]
    """
    values = np.asarray(values, dtype=np.float64)
    if limit is None:
        limit = float(np.abs(values).max()) if values.size else 0.0
    strength = np.clip(np.abs(values) / limit, 0, 1) if limit > 0 else np.zeros_like(values)
    colours = np.where(values[:, None] >= 0, np.asarray(POSITIVE)[None, :3], np.asarray(NEGATIVE)[None, :3])
    return np.concatenate([colours, (MAX_OPACITY * strength)[:, None]], axis=1)


def _words(attribution, index: int) -> tuple[list[str], np.ndarray]:
    if attribution.layout != "text":
        raise InputError(f"highlighted text needs a text attribution; this one is {attribution.layout!r}")
    if not -len(attribution) <= index < len(attribution):
        raise InputError(f"index {index} is out of range for an attribution of {len(attribution)} sample(s)")
    words = attribution.names_of(index)
    return words, np.asarray(attribution.values[index], dtype=np.float64)[: len(words)]


def text_html(attribution, index: int = 0, title: str | None = None) -> str:
    """An HTML snippet of sample `index`: one `<span>` per word with its colour, its value in the
    tooltip and in `data-value`. Words are escaped, so any text is safe to embed.

    >>> import numpy as np
    >>> from unboxed.explanation import FeatureAttribution
    >>> words = FeatureAttribution(values=np.array([[1.0, -1.0]]), inputs=np.array(["good <b>"]), layout="text",
    ...                            feature_names=[["good", "<b>"]], counts=np.array([2]))
    >>> "&lt;b&gt;</span>" in text_html(words)
    True
    """
    words, values = _words(attribution, index)
    colours = word_colours(values)
    spans = []
    for word, value, (red, green, blue, alpha) in zip(words, values, colours):
        style = f"background-color: rgba({round(red * 255)}, {round(green * 255)}, {round(blue * 255)}, {alpha:.3f})"
        spans.append(f'<span class="unboxed-word" data-value="{value:.6g}" title="{value:+.4g}" '
                     f'style="{style}; padding: 0 2px; border-radius: 3px">{html.escape(word)}</span>')
    heading = title if title is not None else default_title(attribution, index)
    return (f'<div class="unboxed-text" style="line-height: 1.9; margin: 0.3em 0"><b>{html.escape(heading)}</b>: '
            + " ".join(spans) + "</div>")


def wrap_words(words: list[str], width: int) -> list[list[int]]:
    """Greedy line breaking: the indices of the words on each line of at most `width` characters
    (a longer word gets a line of its own).

    >>> wrap_words(["ab", "cd", "efgh", "i"], 5)
    [[0, 1], [2], [3]]
    """
    lines: list[list[int]] = [[]]
    used = 0
    for j, word in enumerate(words):
        need = len(word) + (1 if lines[-1] else 0)
        if lines[-1] and used + need > width:
            lines.append([])
            used, need = 0, len(word)
        lines[-1].append(j)
        used += need
    return lines


def plot_text(attribution, index: int = 0, ax=None, title: str | None = None, fontsize: float = 10,
              min_fontsize: float = 5):
    """Sample `index` as wrapped monospace words on coloured boxes, filling the axes from the top;
    the font shrinks (down to `min_fontsize`) until the whole text fits. Returns the Axes.

    >>> from matplotlib.figure import Figure
    >>> from unboxed.explanation import FeatureAttribution
    >>> words = FeatureAttribution(values=np.array([[1.0, -1.0]]), inputs=np.array(["good bad"]), layout="text",
    ...                            feature_names=[["good", "bad"]], counts=np.array([2]))
    >>> [t.get_text() for t in plot_text(words, 0, ax=Figure().subplots()).texts]
    ['good', 'bad']
    """
    ax = _axes(ax)
    words, values = _words(attribution, index)
    colours = word_colours(values)
    fig = ax.figure
    box = ax.get_position()
    width_in, height_in = box.width * fig.get_figwidth(), box.height * fig.get_figheight()
    size = float(fontsize)
    while True:
        char_in, line_in = CHAR_WIDTH * size / 72, LINE_HEIGHT * size / 72
        lines = wrap_words(words, max(1, int(0.95 * width_in / char_in) - 1))  # a margin for layout changes
        if len(lines) * line_in <= height_in or size <= min_fontsize:
            break
        size = max(min_fontsize, size - 0.5)
    from matplotlib.transforms import offset_copy

    for row, line in enumerate(lines):
        column = 0
        for j in line:  # placed in inches from the axes' top-left corner: spacing does not depend on the axes' size
            where = offset_copy(ax.transAxes, fig, x=column * char_in, y=-(row + 0.6) * line_in, units="inches")
            ax.text(0, 1, words[j], transform=where, family="monospace", fontsize=size, va="center", ha="left",
                    clip_on=True, bbox={"facecolor": colours[j], "edgecolor": "none", "pad": 0.8})
            column += len(words[j]) + 1
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title if title is not None else default_title(attribution, index), fontsize=9)
    return ax
