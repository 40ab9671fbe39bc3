"""Real Chromium (Debian's) driven by Playwright; screenshots kept as artifacts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.helpers import REPO

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking switches Chromium keeps dialling out,
# which this closed network refuses; the tests talk to loopback only.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser per module: Playwright's sync API keeps an event loop running in this
    thread while it lives, which would break the asyncio tests a worker runs later."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make setup` installs Debian's chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    for index, open_page in enumerate(p for p in context.pages if not p.is_closed()):
        suffix = f"-{index}" if index else ""
        open_page.screenshot(path=ARTIFACTS / f"{request.node.name}{suffix}.png", full_page=True)
    context.close()
    marker = request.node.get_closest_marker("console_errors")
    expected = marker.args if marker else ()
    unexpected = [e for e in errors if not any(text in e for text in expected)]
    assert unexpected == [], f"the page logged errors: {unexpected}"
