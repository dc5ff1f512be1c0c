"""Open a local HTML file in headless Chromium and report everything that went wrong on it.

Debian's Chromium is driven through Playwright (no browser download): `$UNBOXED_CHROMIUM`, else
`chromium` or `chromium-browser` on the PATH. Without a browser the tests skip with the reason,
except under CI (`CI=true`), where they fail: CI must run them (.ci/run installs chromium).

    from browser import open_in_browser   # `chromium_browser` is a session fixture in conftest.py

    def test_page(chromium_browser, tmp_path):
        result = open_in_browser(path, screenshot="my-page.png", browser=chromium_browser)
        assert not result.problems(), result.problems()

Screenshots go to `<repo>/test-artifacts/` for a person to look at.
"""
from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LOCAL_SCHEMES = re.compile(r"^(file|data|about|blob):")
NO_BROWSER = "headless Chromium not found: apt-get install chromium (or set UNBOXED_CHROMIUM to its path)"

# Every <img> that did not load (still loading, or decoded to nothing), by its src (cut short: data URIs are long).
_BROKEN_IMAGES = "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => (i.getAttribute('src') || '').slice(0, 120))"
_SECTION_IDS = "Array.from(document.querySelectorAll('h2[id]')).map(h => h.id)"
# In-page links (#id) whose target is not on the page.
_BROKEN_ANCHORS = ("Array.from(document.querySelectorAll('a[href^=\"#\"]')).map(a => a.getAttribute('href'))"
                   ".filter(h => h.length > 1 && !document.getElementById(decodeURIComponent(h.slice(1))))")


@dataclass
class BrowserResult:
    """What the browser saw on one page."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)  # any scheme but file:, data:, about:, blob: (blocked)
    broken_images: list[str] = field(default_factory=list)
    broken_anchors: list[str] = field(default_factory=list)
    section_ids: list[str] = field(default_factory=list)
    image_count: int = 0
    text: str = ""  # the rendered text (document.body.innerText)
    evaluated: dict = field(default_factory=dict)  # results of the `evaluate` expressions, by name
    screenshot: Path | None = None

    def problems(self) -> list[str]:
        """Every fault found, one line each: empty for a clean page."""
        named = {
            "console error": self.console_errors, "page error": self.page_errors,
            "failed request": self.failed_requests, "request leaving the machine": self.external_requests,
            "image not loaded": self.broken_images, "link to a missing anchor": self.broken_anchors,
        }
        return [f"{kind}: {item}" for kind, items in named.items() for item in items]


def chromium_path() -> str | None:
    """The Chromium executable: $UNBOXED_CHROMIUM, else `chromium` or `chromium-browser` on the PATH."""
    configured = os.environ.get("UNBOXED_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed: pip install -e '.[test]'"
    if os.environ.get("UNBOXED_CHROMIUM") and chromium_path() is None:
        return f"UNBOXED_CHROMIUM={os.environ['UNBOXED_CHROMIUM']} is not an executable file"
    return None if chromium_path() else NO_BROWSER


def require_browser() -> str:
    """The Chromium path; else skip the test with the reason, or fail it under CI (CI must run browser tests)."""
    reason = missing_browser_reason()
    if reason is None:
        return chromium_path()
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the browser tests; .ci/run installs chromium)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def launched_browser() -> Iterator:
    """A headless Chromium (Playwright Browser), closed on exit; skips/fails like `require_browser`."""
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        try:
            yield browser
        finally:
            browser.close()


def artifact_path(name: str) -> Path:
    """`<repo>/test-artifacts/<name>` (the folder is made)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def open_in_browser(path: str | Path, screenshot: str | Path | None = None, *, browser=None,
                    viewport: tuple[int, int] = (1280, 900), media: str = "screen",
                    evaluate: Mapping[str, str] | None = None) -> BrowserResult:
    """Load the local file `path` and collect what went wrong: console errors, uncaught page errors,
    failed requests, requests to anything but file:/data: (blocked, never sent), images that did
    not load, in-page links to missing ids; also the h2 ids in order, the visible text, the values
    of the JavaScript `evaluate` expressions, and a full-page screenshot (a bare name goes under
    test-artifacts/). `browser` is a launched Playwright Browser (the `chromium_browser` fixture);
    without one a browser is started for this call alone. `media="print"` lays the page out for print.
    """
    if browser is None:
        with launched_browser() as own:
            return open_in_browser(path, screenshot, browser=own, viewport=viewport, media=media, evaluate=evaluate)
    url = Path(path).resolve().as_uri()
    result = BrowserResult(url=url)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        context.route(lambda requested: not LOCAL_SCHEMES.match(requested), lambda route: _block(route, result))
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and result.console_errors.append(message.text))
        page.on("pageerror", lambda error: result.page_errors.append(str(error)))
        page.on("requestfailed", lambda request: result.failed_requests.append(f"{request.url[:120]} ({request.failure})"))
        page.emulate_media(media=media)
        page.goto(url, wait_until="load")
        result.broken_images = page.evaluate(_BROKEN_IMAGES)
        result.broken_anchors = page.evaluate(_BROKEN_ANCHORS)
        result.section_ids = page.evaluate(_SECTION_IDS)
        result.image_count = page.evaluate("document.images.length")
        result.text = page.evaluate("document.body ? document.body.innerText : ''")
        result.evaluated = {name: page.evaluate(expression) for name, expression in (evaluate or {}).items()}
        if screenshot is not None:
            target = Path(screenshot) if Path(screenshot).is_absolute() else artifact_path(str(screenshot))
            page.screenshot(path=str(target), full_page=True)
            result.screenshot = target
    finally:
        context.close()
    return result


def _block(route, result: BrowserResult) -> None:
    result.external_requests.append(route.request.url)
    route.abort("blockedbyclient")
