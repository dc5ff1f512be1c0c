"""Figures as PNG files, PNG bytes, or inline HTML `<img>` tags."""
from __future__ import annotations

import base64
import html
import io
import sys
from pathlib import Path


def figure_to_png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure rendered as PNG (works on a plain Figure: no pyplot, no display needed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def figure_to_png(fig, path: str | Path, dpi: int = 100, close: bool = True) -> Path:
    """Write the figure to `path` as PNG (parent folders are made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_to_png_bytes(fig, dpi))
    if close:
        close_figure(fig)
    return path


def figure_to_html(fig, alt: str = "attribution", dpi: int = 100, close: bool = True) -> str:
    """`<img src="data:image/png;base64,...">` holding the figure, for notebooks and reports.

    With `close` the figure is released from pyplot (if pyplot made it), so a notebook does not
    draw it a second time.
    """
    data = base64.b64encode(figure_to_png_bytes(fig, dpi)).decode("ascii")
    if close:
        close_figure(fig)
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def close_figure(fig) -> None:
    """Forget a pyplot-managed figure (a plain Figure needs nothing: it is garbage collected)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
