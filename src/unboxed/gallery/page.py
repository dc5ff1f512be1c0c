"""The gallery's web page: one self-contained HTML file (inline CSS, pictures linked relatively)."""
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch

from ..taxonomy import MethodInfo
from .settings import describe_setting

if TYPE_CHECKING:
    from .run import Entry, Section

def format_duration(seconds: float) -> str:
    """Milliseconds below a second, else seconds with one decimal.

    >>> format_duration(0.0123), format_duration(4.56)
    ('12 ms', '4.6 s')
    """
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


# --- the page ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1400px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.muted{color:#666;font-size:.9rem}
figure{margin:1rem 0;overflow-x:auto} figure img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0 1rem}
th,td{border-bottom:1px solid #eee;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f6f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;border-radius:.6rem;padding:0 .45rem;margin:0 .15rem .1rem 0;font-size:.75rem;background:#eef;color:#335}
.tag.access-black-box{background:#e8f5e9;color:#1b5e20} .tag.access-gradients{background:#fff3e0;color:#8a4b00}
.tag.access-internals{background:#fce4ec;color:#880e4f}
.skipped{color:#777} .failed{color:#b00020} code{font-size:.8rem}
"""


def page(entries: list[Entry], pictures: dict[str, Path], figures: dict[str, list[tuple[str, Path]]],
          highlights: dict[str, dict[str, list[str]]], facts: dict[str, dict], out_dir: Path, seconds: float,
          sections: Sequence[tuple[Section, str]] = ()) -> str:
    from .. import __version__

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>unboxed gallery</title><style>{_CSS}</style></head><body>",
        "<h1>unboxed: attribution gallery</h1>",
        f"<p class='muted'>Every registered attribution method on each zoo model, explaining the predicted class. "
        f"unboxed {html.escape(__version__)}, torch {html.escape(torch.__version__)}; built in {seconds:.0f} s. "
        "Each heat map has its own symmetric colour scale: blue = evidence against the class, red = evidence for it, "
        "transparent = none; methods that only give magnitudes (≥ 0) use a sequential scale (bright = most relevant). "
        "Per-feature methods (ablation, Shapley values, LIME) remove superpixels, table columns or words; their maps "
        "show the superpixels' outlines. Global methods (permutation importance) explain the model over all held-out data. "
        "Raw results are <code>.npz</code> files that <code>unboxed.load()</code> reads back.</p>",
    ]
    if sections:
        links = " · ".join(f"<a href='#{html.escape(s.anchor)}'>{html.escape(s.title)}</a>" for s, _ in sections)
        parts.append(f"<p>Also on this page: {links}</p>")
    for model in dict.fromkeys(e.model for e in entries):
        model_entries = [e for e in entries if e.model == model]
        parts.append(f"<h2 id='{html.escape(model)}'>{html.escape(model)}</h2>")
        model_facts = {k: v for k, v in facts.get(model, {}).items() if k != "samples"}
        if model_facts:
            described = "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in model_facts.items())
            parts.append(f"<p class='muted'>{described}</p>")
        if model in pictures:
            link = html.escape(pictures[model].relative_to(out_dir).as_posix())
            parts.append(f"<figure><a href='{link}'><img src='{link}' alt='{html.escape(model)} attribution grid'></a></figure>")
        if highlights.get(model):
            parts.append(_highlight_table(highlights[model]))
        for caption, path in figures.get(model, []):
            link = html.escape(path.relative_to(out_dir).as_posix())
            parts.append(f"<figure><a href='{link}'><img src='{link}' alt='{html.escape(caption)}'></a>"
                         f"<figcaption class='muted'>{html.escape(caption)}</figcaption></figure>")
        parts.append(_table(model_entries, out_dir))
    parts += [section_html for _, section_html in sections]
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(entries: list[Entry], out_dir: Path) -> str:
    rows = [
        "<table><tr><th>method</th><th>taxonomy</th><th>settings</th><th>time</th>"
        "<th title='max over samples of |sum of attributions - (f(x) - f(baseline))|'>completeness gap</th><th>result</th></tr>"
    ]
    for e in entries:
        name = html.escape(e.method)
        reference = f"<br><span class='muted'>{html.escape(e.info.reference)}</span>" if e.info and e.info.reference else ""
        tags = _tags(e.info) if e.info else ""
        summary = f"<br><span class='muted'>{html.escape(e.info.summary)}</span>" if e.info else ""
        if e.status != "ok":
            rows.append(
                f"<tr class='{e.status}'><td><b>{name}</b>{reference}</td><td>{tags}{summary}</td>"
                f"<td colspan='4'>{e.status}: {html.escape(e.reason)}</td></tr>"
            )
            continue
        settings = ", ".join(f"{k}={describe_setting(v)}" for k, v in e.settings.items()) or "defaults"
        gap = "—"
        if e.max_delta is not None:
            gap = f"{e.max_delta:.3g}" + (f" <span class='muted'>(max |score| {e.max_score:.3g})</span>" if e.max_score else "")
        link = html.escape(e.path.relative_to(out_dir).as_posix())
        rows.append(
            f"<tr><td><b>{name}</b>{reference}</td><td>{tags}{summary}</td><td><code>{html.escape(settings)}</code></td>"
            f"<td class='num'>{format_duration(e.seconds)}</td><td class='num'>{gap}</td>"
            f"<td><a href='{link}'>{html.escape(Path(link).name)}</a></td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _highlight_table(highlighted: dict[str, list[str]]) -> str:
    """One row per method: its highlighted texts (snippets made by `text_html`, already escaped)."""
    rows = ["<table><tr><th>method</th><th>words coloured by attribution (red: for the class, blue: against)</th></tr>"]
    rows += [f"<tr><td><b>{html.escape(name)}</b></td><td>{''.join(snippets)}</td></tr>" for name, snippets in highlighted.items()]
    rows.append("</table>")
    return "\n".join(rows)


def _tags(info: MethodInfo) -> str:
    values = info.as_dict()
    return "".join(
        f"<span class='tag {axis}-{html.escape(values[axis])}' title='{axis}'>{html.escape(values[axis])}</span>"
        for axis in ("engagement", "format", "scope", "access")
    )
