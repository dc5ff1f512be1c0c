"""The report page: self-contained (nothing fetched, images inline), escaped, navigable, and clean in a real browser."""
import base64
import io
import re
from html.parser import HTMLParser

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from browser import open_in_browser
from unboxed.errors import InputError
from unboxed.report import Page, format_number

ATTACK = "<script>window.__pwned = 1</script>"
ANCHORS = ("summary", "global-importance", "sanity-checks")


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each table cell."""

    def __init__(self, markup: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.cells: list[tuple[str, str, str]] = []  # (th|td, class, text)
        self.text: list[str] = []
        self._cell = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = [tag, dict(attrs).get("class") or "", ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell:
            self.cells.append(tuple(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell:
            self._cell[2] += data

    def attributes(self, tag: str, name: str) -> list[str]:
        return [attrs[name] for t, attrs in self.tags if t == tag and name in attrs]


def line_figure(title: str) -> Figure:
    fig = Figure(figsize=(5, 2.4))
    ax = fig.add_subplot()
    ax.barh(["mean radius", "worst texture", "mean smoothness"], [0.42, 0.27, -0.11], color=["#b2182b", "#b2182b", "#2166ac"])
    ax.set_title(title)
    fig.tight_layout()
    return fig


def rich_page() -> Page:
    """Three sections, each with facts or text, a table, a figure and a callout; a wide table; folded details."""
    page = Page("Audit of breast_cancer_mlp", subtitle="30 features, 2 classes, 114 held-out rows")
    summary = page.section(ANCHORS[0], "Summary")
    summary.facts({"model": "breast_cancer_mlp.safetensors", "rows": 114, "accuracy": 0.973684})
    summary.callout("The model's predictions are stable under small input noise.", "ok")
    summary.table(pd.DataFrame({"class": ["malignant", "benign"], "rows": [42, 72], "recall": [0.952381, 0.986111]}),
                  caption="Held-out rows by class")
    summary.figure(line_figure("Largest attributions, case 7"), caption="Top features of case 7.")
    importance = page.section(ANCHORS[1], "Global importance")
    importance.paragraph("Permutation importance over the held-out rows: the drop in accuracy when a column is shuffled.")
    wide = pd.DataFrame(np.linspace(0.001, 0.9, 3 * 14).reshape(3, 14), columns=[f"worst concave points {i}" for i in range(14)])
    importance.table(wide, caption="A wide table (scrolls on its own)")
    importance.figure(line_figure("Permutation importance"), caption="Accuracy drop per shuffled column.")
    importance.callout("Two features carry most of the importance.", "info")
    checks = page.section(ANCHORS[2], "Sanity checks")
    checks.table(pd.DataFrame({"method": ["saliency", "guided_backprop"], "passes": [True, False], "rank correlation": [0.12, 0.91]}),
                 highlight={"passes": lambda row: "ok" if row["passes"] else "bad"})
    checks.callout("Guided Backprop fails the model-randomisation sanity check: its maps barely change when the "
                   "weights are randomised, so they show the input, not the model.", "warning")
    checks.figure(line_figure("Randomisation"), caption="Similarity of maps before and after randomisation.")
    checks.details("Exact command").code("unboxed audit breast_cancer_mlp.safetensors data.csv --out report.html")
    return page


def attacked_page() -> Page:
    """A page where every user-given text is a script tag."""
    page = Page(ATTACK, subtitle=ATTACK)
    section = page.section("data", ATTACK)
    section.paragraph(ATTACK).callout(ATTACK, "warning", title=ATTACK).facts({ATTACK: ATTACK}).code(ATTACK).subsection(ATTACK)
    section.table(pd.DataFrame({ATTACK: [ATTACK], "value": [1.5]}), caption=ATTACK)
    section.figure(Figure(figsize=(1, 1)), caption=ATTACK, alt=ATTACK)
    section.details(ATTACK).paragraph(ATTACK)
    return page


@pytest.fixture(scope="module")
def rich_html():
    return rich_page().render()


@pytest.fixture(scope="module")
def rich_file(tmp_path_factory):
    return rich_page().write(tmp_path_factory.mktemp("report") / "rich.html")


# --- the HTML itself ----------------------------------------------------------------------------

def test_page_references_nothing_outside_itself(rich_html):
    assert not re.search(r"(?i)\b(https?|ftp):|//[a-z0-9.-]+\.[a-z]{2,}/", rich_html)
    tags = Tags(rich_html)
    sources = tags.attributes("img", "src")
    assert len(sources) == 3 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert all(href.startswith("#") for href in tags.attributes("a", "href"))
    assert not tags.attributes("link", "href") and not [t for t, _ in tags.tags if t == "script"]


def test_inline_images_are_the_figures_as_png():
    fig = line_figure("x")
    png = base64.b64decode(Tags(Page("t").section("a", "A").figure(fig, "c").render()).attributes("img", "src")[0].split(",", 1)[1])
    picture = matplotlib.image.imread(io.BytesIO(png))
    assert picture.shape[:2] == (round(2.4 * 150), round(5 * 150))  # drawn at 150 dpi ...
    assert Tags(Page("t").section("a", "A").figure(line_figure("x")).render()).attributes("img", "width") == ["500"]  # ... shown at 100 px/inch


def test_pyplot_figures_are_closed_once_inlined():
    fig = plt.figure()
    number = fig.number
    Page("t").section("a", "A").figure(fig, "c")
    assert number not in plt.get_fignums()


def test_png_bytes_are_checked():
    section = Page("t").section("a", "A")
    with pytest.raises(InputError, match="not a PNG"):
        section.figure(b"GIF89a...")
    with pytest.raises(InputError, match="matplotlib Figure or PNG bytes"):
        section.figure("plot.png")


def test_every_user_text_is_escaped():
    markup = attacked_page().render()
    tags = Tags(markup)
    assert "<script" not in markup.lower()
    assert not [t for t, _ in tags.tags if t == "script"]
    # each of the 18 places shows the text literally: <title>, h1, subtitle, toc link, h2, paragraph, callout label and
    # text, fact key and value, code, h3, table caption, header and cell, figcaption, summary, folded paragraph
    assert "".join(tags.text).count(ATTACK) == 18
    assert tags.attributes("img", "alt") == [ATTACK]


def test_toc_links_each_section_in_order(rich_html):
    tags = Tags(rich_html)
    links = [href for t, attrs in tags.tags if t == "a" for href in [attrs["href"]]]
    headings = [attrs["id"] for t, attrs in tags.tags if t == "h2"]
    assert links == [f"#{anchor}" for anchor in ANCHORS] and headings == list(ANCHORS)


@pytest.mark.parametrize("anchor", ["", "2nd", "has space", "a#b", "x'y", None])
def test_anchors_must_be_simple_ids(anchor):
    with pytest.raises(InputError, match="not a simple id"):
        Page("t").section(anchor, "T")


def test_anchors_are_unique_across_sections_and_subsections():
    page = Page("t")
    page.section("a", "A").subsection("case", anchor="case-1")
    with pytest.raises(InputError, match="used twice"):
        page.section("case-1", "B")


def test_table_formats_numbers_and_aligns_them():
    frame = pd.DataFrame({"feature": ["age", "income", "tiny", "none"], "importance": [0.123456, 1234.5678, 1.234e-6, np.nan],
                          "count": [3, 1200, 7, 0], "share": [0.5, 0.25, 0.125, 0.0]})
    tags = Tags(Page("t").section("a", "A").table(frame, formats={"share": "{:.0%}"}).render())
    header = [(cls, text) for tag, cls, text in tags.cells if tag == "th"]
    assert header == [("", "feature"), ("num", "importance"), ("num", "count"), ("num", "share")]  # unnamed index hidden
    rows = np.array([(cls, text) for tag, cls, text in tags.cells if tag == "td"], dtype=object).reshape(4, 4, 2)
    assert rows[:, 1, 1].tolist() == ["0.123", "1,235", "1.23e-06", "\u2014"]
    assert rows[:, 2, 1].tolist() == ["3", "1200", "7", "0"]
    assert rows[:, 3, 1].tolist() == ["50%", "25%", "12%", "0%"]
    assert set(rows[:, 0, 0]) == {""} and set(rows[:, 1:, 0].ravel()) == {"num"}


def test_named_index_is_shown_and_cells_are_flagged():
    frame = pd.DataFrame({"passes": [True, False]}, index=pd.Index(["saliency", "guided_backprop"], name="method"))
    tags = Tags(Page("t").section("a", "A").table(frame, highlight={"passes": lambda row: None if row["passes"] else "bad"}).render())
    assert [(tag, cls, text) for tag, cls, text in tags.cells] == [
        ("th", "", "method"), ("th", "", "passes"), ("td", "", "saliency"), ("td", "", "yes"),
        ("td", "", "guided_backprop"), ("td", "bad", "no")]


def test_table_arguments_are_checked():
    section = Page("t").section("a", "A")
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(InputError, match="column 'y'"):
        section.table(frame, formats={"y": "{:.1f}"})
    with pytest.raises(InputError, match="one of ok, warning, bad"):
        section.table(frame, highlight={"x": lambda row: "red"})
    with pytest.raises(InputError, match="DataFrame"):
        section.table("x,y\n1,2")
    with pytest.raises(InputError, match="kind 'danger'"):
        section.callout("text", "danger")


@pytest.mark.parametrize("value, shown", [
    (0.123456, "0.123"), (-0.98765, "-0.988"), (999.7, "1,000"), (12.345, "12.3"), (1e-4, "0.000100"),
    (1.5e-5, "1.50e-05"), (0.0, "0"), (float("inf"), "\u221e"), (float("nan"), "\u2014"),
])
def test_three_significant_digits(value, shown):
    assert format_number(value) == shown


def test_write_and_notebook_view(tmp_path, rich_html):
    page = rich_page()
    path = page.write(tmp_path / "out" / "report.html")
    assert path.read_text(encoding="utf-8") == page.render()
    inline = page._repr_html_()
    assert not re.search(r"<(html|head|body)[\s>]", inline) and "unboxed-report" in inline and "<h2 id='summary'>" in inline
    assert Page("Dosis \u00b5g/m\u00b2 \u2264 5").write(tmp_path / "u.html").read_bytes().count("\u2264".encode("utf-8")) == 2


# --- in a real browser --------------------------------------------------------------------------

def test_page_is_clean_in_a_browser(rich_file, chromium_browser):
    result = open_in_browser(rich_file, screenshot="report-page-desktop.png", browser=chromium_browser)
    assert result.problems() == []
    assert result.section_ids == list(ANCHORS)
    assert result.image_count == 3 and result.broken_images == []
    assert "Guided Backprop fails the model-randomisation sanity check" in result.text
    picture = matplotlib.image.imread(result.screenshot)
    assert picture.shape[1] == 1280 and picture.shape[0] > 900  # the full page, not only the first screen


def test_narrow_screen_scrolls_only_the_wide_table(rich_file, chromium_browser):
    result = open_in_browser(rich_file, screenshot="report-page-narrow.png", browser=chromium_browser, viewport=(390, 800), evaluate={
        "page overflows": "document.documentElement.scrollWidth > document.documentElement.clientWidth",
        "tables scrolling": "Array.from(document.querySelectorAll('.table-wrap')).map(w => w.scrollWidth > w.clientWidth)",
    })
    assert result.problems() == []
    assert result.evaluated["page overflows"] is False
    assert result.evaluated["tables scrolling"][:2] == [False, True]  # the 3-column table fits, the 14-column one scrolls


def test_print_unfolds_details(rich_file, chromium_browser):
    folded = {"visible": "document.querySelector('details pre').checkVisibility()",
              "height": "document.querySelector('details').getBoundingClientRect().height"}
    on_screen = open_in_browser(rich_file, browser=chromium_browser, evaluate=folded)
    printed = open_in_browser(rich_file, screenshot="report-page-print.png", browser=chromium_browser, media="print",
                              evaluate=folded)
    assert on_screen.evaluated["visible"] is False and printed.evaluated["visible"] is True
    assert printed.evaluated["height"] > on_screen.evaluated["height"] + 20


def test_escaped_script_shows_as_text_and_never_runs(tmp_path, chromium_browser):
    result = open_in_browser(attacked_page().write(tmp_path / "attacked.html"), screenshot="report-page-escaped.png",
                             browser=chromium_browser, evaluate={"pwned": "typeof window.__pwned"})
    assert result.problems() == []
    assert result.evaluated["pwned"] == "undefined"
    assert result.text.count(ATTACK) >= 10  # shown, not parsed (the <title> and alt text are not body text)


def test_policy_stops_script_and_requests_even_in_trusted_markup(tmp_path, chromium_browser):
    page = Page("t")
    page.section("a", "A").html("<script>window.__pwned = 1</script><img src='http://example.invalid/pixel.png' alt='x'>")
    result = open_in_browser(page.write(tmp_path / "trusted.html"), browser=chromium_browser,
                             evaluate={"pwned": "typeof window.__pwned"})
    assert result.evaluated["pwned"] == "undefined"
    assert result.external_requests == []  # refused by the page itself, before any request
    assert len(result.console_errors) == 2 and all("Content Security Policy" in e for e in result.console_errors)


def test_harness_reports_every_kind_of_fault(tmp_path, chromium_browser):
    """A harness that cannot fail is a defect: a broken page must produce each complaint."""
    (tmp_path / "broken.html").write_text(
        "<!DOCTYPE html><html><body><h2 id='one'>One</h2><img src='missing.png' alt='m'>"
        "<img src='https://example.invalid/x.png' alt='x'><a href='#nowhere'>?</a>"
        "<script>console.error('boom'); throw new Error('kaput')</script></body></html>", encoding="utf-8")
    result = open_in_browser(tmp_path / "broken.html", browser=chromium_browser)
    assert [src for src in result.broken_images] == ["missing.png", "https://example.invalid/x.png"]
    assert any("missing.png" in r for r in result.failed_requests)
    assert result.external_requests == ["https://example.invalid/x.png"]
    assert "boom" in result.console_errors and "kaput" in result.page_errors[0]  # (the 404s log console errors too)
    assert result.broken_anchors == ["#nowhere"] and result.section_ids == ["one"]
    assert len(result.problems()) >= 6
