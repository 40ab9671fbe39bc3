"""A learner's whole visit in Chromium: join, start, shell, click-to-run, app tab, Check."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.sessions.conftest import COURSE, LAB, LabServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

# Each terminal's rows, as xterm.js's DOM renderer draws them.
TERMINAL = "#terminal-1 .xterm-rows"


def test_a_learner_works_through_a_lab_in_the_browser(page: Page, lab_server: LabServer) -> None:
    server = lab_server
    step_1 = f"{server.url}/courses/{COURSE}/{LAB}/01-look-around"
    page.goto(f"{server.url}/join?next=/courses/{COURSE}/{LAB}/01-look-around")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name="Join").click()
    expect(page).to_have_url(step_1)
    expect(page.get_by_test_id("learner-name")).to_have_text("Ada")

    page.get_by_test_id("start-lab").click()
    expect(page.get_by_test_id("start-log")).to_contain_text("cluster", timeout=30_000)
    page.screenshot(path=ARTIFACTS / "learner-starting.png")
    expect(page).to_have_url(step_1, timeout=180_000)  # ready: back to the step

    # The prompt appears; a click on a code block runs it in the shell.
    expect(page.locator(TERMINAL)).to_contain_text(re.compile(r"lp-[0-9a-f]+\$"), timeout=30_000)
    listing = page.locator("code.action", has_text="kubectl get namespaces")
    listing.click()
    expect(page.locator(TERMINAL)).to_contain_text("istio-system", timeout=30_000)
    expect(listing).to_have_attribute("data-state", "done")  # back at the prompt, exit 0
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^(29|30):\d\d$"))
    page.screenshot(path=ARTIFACTS / "learner-shell.png")

    # Closing the tab keeps the shell: a new tab shows the same screen, history included.
    context = page.context
    page.close()
    again = context.new_page()
    again.goto(step_1)
    expect(again.locator(TERMINAL)).to_contain_text("istio-system", timeout=30_000)
    again.locator(".xterm-helper-textarea").focus()
    again.keyboard.type("history | tail -3\n")
    expect(again.locator(TERMINAL)).to_contain_text("kubectl get namespaces", timeout=10_000)

    # A second terminal: another shell in the same cluster, beside the first.
    again.get_by_role("button", name="+").click()
    expect(again.get_by_role("tab", name="Terminal 2")).to_be_visible()
    expect(again.locator("#terminal-2 .xterm-rows")).to_contain_text(
        re.compile(r"lp-[0-9a-f]+\$"), timeout=30_000
    )

    # The app tab: the sample app's page, served inside the cluster.
    again.get_by_role("tab", name="App").click()
    app = again.frame_locator(".pane.app iframe")
    expect(app.locator("h1")).to_contain_text("Sentiment", timeout=30_000)
    again.screenshot(path=ARTIFACTS / "learner-app-tab.png")

    # Check on the unsolved step says what it saw and what to try; solved, it passes.
    again.get_by_role("link", name=re.compile("Create a namespace")).click()
    again.get_by_role("button", name="Check").click()
    failed = again.locator(".check-results li.failed")
    expect(failed).to_contain_text("there is no Namespace demo", timeout=30_000)
    expect(failed.locator(".hint")).to_contain_text("kubectl create namespace demo")
    again.screenshot(path=ARTIFACTS / "learner-check-failed.png")
    again.get_by_role("tab", name="Terminal 1").click()
    create = again.locator("code.action", has_text="kubectl create namespace demo")
    create.click()
    expect(again.locator(TERMINAL)).to_contain_text("namespace/demo created", timeout=30_000)
    expect(create).to_have_attribute("data-state", "done", timeout=30_000)
    again.get_by_role("button", name="Check").click()
    expect(again.locator(".check-results li.passed")).to_contain_text("demo", timeout=30_000)
    # The first step has nothing to check: opening it in the session counted it as done.
    expect(again.locator(".progress")).to_have_attribute("aria-valuenow", "2")
    expect(again.get_by_test_id("done-count")).to_have_text("2 of 2 steps done")
    again.screenshot(path=ARTIFACTS / "learner-check-passed.png")

    # The same block again fails (the namespace exists): the block shows the exit status.
    create.click()
    expect(again.locator(TERMINAL)).to_contain_text("AlreadyExists", timeout=30_000)
    expect(create).to_have_attribute("data-state", "failed", timeout=30_000)
    expect(create).to_have_attribute("data-exit-status", "1")
