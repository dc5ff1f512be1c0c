"""One self-contained HTML page: inline CSS, figures as data URIs, no script, nothing fetched.

A `Page` holds numbered sections (a table of contents at the top links to each); a section holds
blocks in order: paragraphs, tables, figures, callouts, facts, code, sub-headings and folded
`<details>`. Every text given is escaped; only `html(snippet)` passes markup through, for snippets
the caller made. A Content-Security-Policy in the page lets the browser load nothing but inline
styles and `data:` images, so even a mistake in a trusted snippet cannot run script or reach the
network (the browser refuses and says so in its console).

>>> page = Page("Audit of model.onnx", subtitle="breast-cancer classifier")
>>> page.section("summary", "Summary").paragraph("Accuracy 0.93 on 114 held-out rows.")
Section('summary', 1 block)
>>> "<h2 id='summary'>Summary</h2>" in page.render()
True
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any, Mapping, TypeVar

from ..errors import InputError
from ..viz.html import close_figure, figure_to_png_bytes
from .style import PAGE_CSS, REPORT_CSS
from .tables import Highlight, format_value, table_html

ANCHOR = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# The label each callout kind starts with: the kind reads without colour (print, colour blindness).
CALLOUTS = {"info": "Note", "ok": "OK", "warning": "Warning", "bad": "Problem"}
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Figures are drawn at 1.5x their on-screen size (shown at 100 px per inch): sharp on dense screens and in print.
FIGURE_DPI = 150
SCREEN_DPI = 100

B = TypeVar("B", bound="Block")


class Block:
    """Content in order; the methods append one block each and return `self`, so calls chain."""

    def __init__(self, ids: set[str]):
        self._parts: list[Any] = []  # HTML strings, or nested blocks rendered when the page is
        self._ids = ids  # every id on the page, shared, to keep anchors unique

    def paragraph(self: B, text: str) -> B:
        """A paragraph of plain text (escaped).

        >>> Page("t").section("a", "A").paragraph("1 < 2").render()
        "<section><h2 id='a'>A</h2><p>1 &lt; 2</p></section>"
        """
        self._parts.append(f"<p>{_escape(text)}</p>")
        return self

    def html(self: B, snippet: str) -> B:
        """Markup the caller made and trusts, passed through as it is (no script will run: see the module doc).

        >>> Page("t").section("a", "A").html("<p>made <em>here</em></p>").render()
        "<section><h2 id='a'>A</h2><p>made <em>here</em></p></section>"
        """
        if not isinstance(snippet, str):
            raise InputError(f"html() takes a string of markup, not {type(snippet).__name__}")
        self._parts.append(snippet)
        return self

    def table(self: B, table: Any, caption: str | None = None, formats: Mapping[str, Any] | None = None,
              highlight: Mapping[str, Highlight] | None = None, digits: int = 3) -> B:
        """A table from a DataFrame (or Series, or list of row dicts): see `unboxed.report.tables.table_html`.

        >>> import pandas as pd
        >>> section = Page("t").section("a", "A").table(pd.DataFrame({"feature": ["age"], "importance": [0.31416]}))
        >>> "<td class='num'>0.314</td>" in section.render()
        True
        """
        self._parts.append(table_html(table, caption=caption, formats=formats, highlight=highlight, digits=digits))
        return self

    def figure(self: B, image: Any, caption: str | None = None, alt: str | None = None) -> B:
        """A matplotlib Figure (drawn, then closed) or PNG bytes, inline as a data URI; `alt` defaults to the caption.

        >>> from matplotlib.figure import Figure
        >>> fig = Figure(figsize=(2, 1))
        >>> _ = fig.add_subplot().plot([0, 1])
        >>> "src='data:image/png;base64," in Page("t").section("a", "A").figure(fig, "A line.").render()
        True
        """
        png, width = _png(image)
        alt = alt if alt is not None else (caption or "figure")
        data = base64.b64encode(png).decode("ascii")
        size = f" width='{width}'" if width else ""
        caption_html = f"<figcaption>{_escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f"<figure><img src='data:image/png;base64,{data}' alt='{_escape(alt)}'{size}>{caption_html}</figure>")
        return self

    def callout(self: B, text: str, kind: str = "info", title: str | None = None) -> B:
        """A boxed note of one kind (info, ok, warning, bad), led by `title` or the kind's label (Note, OK, Warning, Problem).

        >>> Page("t").section("a", "A").callout("Guided Backprop fails the randomisation check.", "warning").render()
        "<section><h2 id='a'>A</h2><div class='callout warning' role='note'><span class='callout-label'>Warning</span>Guided Backprop fails the randomisation check.</div></section>"
        """
        if kind not in CALLOUTS:
            raise InputError(f"callout kind {kind!r} is not one of: {', '.join(CALLOUTS)}")
        label = title if title is not None else CALLOUTS[kind]
        self._parts.append(f"<div class='callout {kind}' role='note'><span class='callout-label'>{_escape(label)}</span>"
                           f"{_escape(text)}</div>")
        return self

    def facts(self: B, facts: Mapping[str, Any]) -> B:
        """Key -> value pairs as a definition list (values shown like table cells: 3 significant digits).

        >>> Page("t").section("a", "A").facts({"rows": 569, "accuracy": 0.97368}).render()
        "<section><h2 id='a'>A</h2><dl class='facts'><dt>rows</dt><dd>569</dd><dt>accuracy</dt><dd>0.974</dd></dl></section>"
        """
        if not isinstance(facts, Mapping):
            raise InputError(f"facts() takes a mapping of name -> value, not {type(facts).__name__}")
        if facts:
            pairs = "".join(f"<dt>{_escape(key)}</dt><dd>{_escape(format_value(value))}</dd>" for key, value in facts.items())
            self._parts.append(f"<dl class='facts'>{pairs}</dl>")
        return self

    def subsection(self: B, title: str, anchor: str | None = None) -> B:
        """A sub-heading (h3), with an id when `anchor` is given.

        >>> Page("t").section("a", "A").subsection("Case 12", anchor="case-12").render()
        "<section><h2 id='a'>A</h2><h3 id='case-12'>Case 12</h3></section>"
        """
        id_html = f" id='{_claim(anchor, self._ids)}'" if anchor is not None else ""
        self._parts.append(f"<h3{id_html}>{_escape(title)}</h3>")
        return self

    def details(self, summary: str, open: bool = False) -> "Details":
        """A folded block (`<details>`) headed by `summary`; returns it, to fill with the same methods.

        Printed pages show it unfolded.

        >>> section = Page("t").section("a", "A")
        >>> section.details("All 30 features").paragraph("...")
        Details('All 30 features', 1 block)
        """
        block = Details(summary, open, self._ids)
        self._parts.append(block)
        return block

    def code(self: B, text: str) -> B:
        """Preformatted text (escaped), e.g. the exact command that made the report.

        >>> Page("t").section("a", "A").code("unboxed audit model.onnx data.csv").render()
        "<section><h2 id='a'>A</h2><pre class='code'><code>unboxed audit model.onnx data.csv</code></pre></section>"
        """
        self._parts.append(f"<pre class='code'><code>{_escape(text)}</code></pre>")
        return self

    def _inner(self) -> str:
        return "".join(part if isinstance(part, str) else part.render() for part in self._parts)

    def _count(self) -> str:
        return f"{len(self._parts)} block" + ("" if len(self._parts) == 1 else "s")


class Section(Block):
    """A numbered part of the page (h2 with id `anchor`), listed in the table of contents."""

    def __init__(self, anchor: str, title: str, ids: set[str]):
        super().__init__(ids)
        self.anchor, self.title = _claim(anchor, ids), str(title)

    def render(self) -> str:
        """The section's HTML."""
        return f"<section><h2 id='{self.anchor}'>{_escape(self.title)}</h2>{self._inner()}</section>"

    def __repr__(self) -> str:
        return f"Section({self.anchor!r}, {self._count()})"


class Details(Block):
    """A folded block: `summary` always shown, the rest on click."""

    def __init__(self, summary: str, open: bool, ids: set[str]):
        super().__init__(ids)
        self.summary, self.open = str(summary), bool(open)

    def render(self) -> str:
        """The block's HTML."""
        return (f"<details{' open' if self.open else ''}><summary>{_escape(self.summary)}</summary>"
                f"{self._inner()}</details>")

    def __repr__(self) -> str:
        return f"Details({self.summary!r}, {self._count()})"


class Page:
    """A report page: a title, an optional subtitle, a table of contents and sections in order.

    >>> page = Page("Audit")
    >>> page.section("data", "Data").facts({"rows": 569})
    Section('data', 1 block)
    >>> page.section("data", "Data again")
    Traceback (most recent call last):
    ...
    unboxed.errors.InputError: the anchor 'data' is used twice on the page: give each section or sub-heading its own
    """

    def __init__(self, title: str, subtitle: str | None = None):
        self.title, self.subtitle = str(title), subtitle
        self.sections: list[Section] = []
        self._ids: set[str] = set()

    def section(self, anchor: str, title: str) -> Section:
        """Add a section (a simple, unique id: letters, digits, '-' and '_'); returns it, to fill.

        >>> Page("t").section("global-importance", "Global importance")
        Section('global-importance', 0 blocks)
        """
        section = Section(anchor, title, self._ids)
        self.sections.append(section)
        return section

    def body(self) -> str:
        """The page's content, without `<html>`/`<head>` (the CSS is not included)."""
        subtitle = f"<p class='subtitle'>{_escape(self.subtitle)}</p>" if self.subtitle else ""
        header = f"<header><h1>{_escape(self.title)}</h1>{subtitle}</header>"
        return header + self._contents() + "".join(section.render() for section in self.sections)

    def render(self) -> str:
        """The whole HTML document.

        >>> Page("Audit").render().startswith("<!DOCTYPE html>")
        True
        """
        return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                f"<meta http-equiv='Content-Security-Policy' content=\"{CONTENT_SECURITY_POLICY}\">"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{_escape(self.title)}</title><style>{REPORT_CSS}{PAGE_CSS}</style></head>\n"
                f"<body><main class='unboxed-report'>{self.body()}</main></body></html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the page to `path` (UTF-8; parent folders are made); returns the path.

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     Page("Audit").write(Path(folder) / "report" / "audit.html").read_text(encoding="utf-8")[:15]
        '<!DOCTYPE html>'
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return f"<style>{REPORT_CSS}</style><div class='unboxed-report'>{self.body()}</div>"

    def _contents(self) -> str:
        if not self.sections:
            return ""
        links = "".join(f"<li><a href='#{s.anchor}'>{_escape(s.title)}</a></li>" for s in self.sections)
        return f"<nav class='toc' aria-label='Contents'><p class='toc-title'>Contents</p><ol>{links}</ol></nav>"

    def __repr__(self) -> str:
        return f"Page({self.title!r}, {len(self.sections)} sections)"


def _claim(anchor: str, ids: set[str]) -> str:
    if not isinstance(anchor, str) or not ANCHOR.fullmatch(anchor):
        raise InputError(f"the anchor {anchor!r} is not a simple id: use letters, digits, '-' and '_', "
                         "starting with a letter (e.g. 'global-importance')")
    if anchor in ids:
        raise InputError(f"the anchor {anchor!r} is used twice on the page: give each section or sub-heading its own")
    ids.add(anchor)
    return anchor


def _png(image: Any) -> tuple[bytes, int | None]:
    """PNG bytes and the on-screen width in CSS pixels (None: the PNG's own width)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        png = bytes(image)
        if not png.startswith(PNG_SIGNATURE):
            raise InputError("figure() got bytes that are not a PNG image: pass PNG bytes or a matplotlib Figure")
        return png, None
    if hasattr(image, "savefig") and hasattr(image, "get_figwidth"):
        png = figure_to_png_bytes(image, dpi=FIGURE_DPI)
        width = round(image.get_figwidth() * SCREEN_DPI)
        close_figure(image)
        return png, width
    raise InputError(f"figure() takes a matplotlib Figure or PNG bytes, not {type(image).__name__}")


def _escape(text: Any) -> str:
    return html.escape(str(text), quote=True)
