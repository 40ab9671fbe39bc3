"""Every lab of the service-mesh course, done as a new learner would: by its text alone.

A real course server serves the repository's courses; Chromium joins,
starts the lab, and on every page clicks each click-to-run block in order,
waiting for the terminal to show it has run (the block's ✓ or exit
status, from the shell's prompt marks), then presses Check where there is
one, and goes on. No solution script is used: if the text leaves out a
command, a check fails here. The last page must say every step is done.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from labplatform.courses.discover import load
from labplatform.courses.model import Lab
from tests.e2e.conftest import ARTIFACTS
from tests.helpers import REPO
from tests.sessions.conftest import LabServer, serving

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

COURSE = load(REPO / "courses" / "service-mesh")
BLOCK_SECONDS = 180  # the longest block waits for a rollout
CHECK_PRESSES = 2  # a learner whose Check fails right after a command tries once more


@pytest.fixture(scope="module")
def course_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    settings = {
        "LABPLATFORM_COURSES_DIR": str(REPO / "courses"),
        "LABPLATFORM_POOL_SIZE": "0",
        "LABPLATFORM_MAX_SESSIONS": "2",
        "LABPLATFORM_IDLE_MINUTES": "60",
    }
    with serving(LabServer(tmp_path_factory.mktemp("course-labs"), settings=settings)) as server:
        yield server


def run_blocks(page: Page) -> int:
    """Click every click-to-run block on the page, each after the one before has run."""
    blocks = page.locator('.step [data-action="run"]')
    for index in range(blocks.count()):
        block = blocks.nth(index)
        block.scroll_into_view_if_needed()
        block.click()
        expect(block).to_have_attribute(
            "data-state", re.compile("^(done|failed)$"), timeout=BLOCK_SECONDS * 1000
        )
    return blocks.count()


def press_check(page: Page, checks: int) -> None:
    results = page.locator(".check-results li")
    for _ in range(CHECK_PRESSES):
        page.get_by_role("button", name="Check").click()
        expect(results).to_have_count(checks, timeout=BLOCK_SECONDS * 1000)
        if page.locator(".check-results li.failed").count() == 0:
            return
    failed = page.locator(".check-results li.failed").all_inner_texts()
    raise AssertionError(f"Check still fails after {CHECK_PRESSES} presses: {failed}")


@pytest.mark.parametrize("lab", COURSE.labs, ids=[lab.slug for lab in COURSE.labs])
def test_the_lab_can_be_done_by_following_its_text(
    page: Page, course_server: LabServer, lab: Lab
) -> None:
    pages = [p for p in (lab.intro, *lab.steps, lab.finish) if p is not None]
    base = f"{course_server.url}/courses/{COURSE.slug}/{lab.slug}"
    page.goto(f"{course_server.url}/join?next=/courses/{COURSE.slug}/{lab.slug}/{pages[0].slug}")
    page.get_by_label("Your name").fill(f"learner-{lab.slug}")
    page.get_by_role("button", name="Join").click()
    page.get_by_test_id("start-lab").click()
    expect(page).to_have_url(f"{base}/{pages[0].slug}", timeout=300_000)
    expect(page.locator("#terminal-1 .xterm-rows")).to_contain_text(
        re.compile(r"lp-[0-9a-f]+\$"), timeout=60_000
    )

    clicked = 0
    for number, step in enumerate(pages):
        expect(page).to_have_url(f"{base}/{step.slug}")
        clicked += run_blocks(page)
        if step in lab.steps and step.checks:
            press_check(page, len(step.checks))
        if number + 1 < len(pages):
            page.locator('a[rel="next"]').click()

    assert clicked > 0
    steps = len(lab.steps)  # read-only steps count once opened
    expect(page.get_by_test_id("done-count")).to_have_text(f"{steps} of {steps} steps done")
    expect(page.get_by_test_id("lab-complete")).to_contain_text(f"all {steps} steps")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"lab-{lab.slug}-finished.png")

    # Done: Stop gives the environment back (the server holds two at a time).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".session-ended")).to_be_visible(timeout=60_000)
