"""The landing page in a real browser, served by the real `labplatform serve`."""

import pytest
from playwright.sync_api import Page, expect

from labplatform.courses.scaffold import new_course
from tests.conftest import RunningServer

pytestmark = pytest.mark.e2e


def test_catalog_lists_courses_with_styles_and_scripts(page: Page, server: RunningServer) -> None:
    new_course(server.courses_dir, "mesh")
    (server.courses_dir / "mesh" / "course.yaml").write_text(
        "title: The service mesh\ndescription: Route, secure and observe the sample app.\n"
    )
    (server.courses_dir / "broken").mkdir()
    (server.courses_dir / "broken" / "course.yaml").write_text("description: no title\n")

    page.goto(server.url)
    expect(page.locator("html")).to_have_attribute("data-ready", "true")  # bundle ran
    card = page.locator('[data-course="mesh"]')
    expect(card.locator("h2")).to_have_text("The service mesh")
    expect(card).to_contain_text("Route, secure and observe the sample app.")
    expect(page.locator('[data-course="broken"] .error')).to_contain_text(
        "missing a 'title' string"
    )
    # the stylesheet from the frontend build applied: cards sit in a grid
    assert page.locator(".course-list").evaluate("e => getComputedStyle(e).display") == "grid"


def test_empty_catalog_explains_how_to_add_a_course(page: Page, server: RunningServer) -> None:
    page.goto(server.url)
    expect(page.get_by_test_id("no-courses")).to_contain_text(str(server.courses_dir))


def test_a_learner_reads_a_lab_from_the_catalog_to_the_finish(
    page: Page, server: RunningServer
) -> None:
    new_course(server.courses_dir, "mesh-101")
    page.goto(server.url)
    page.get_by_role("link", name="Mesh 101").click()
    page.get_by_role("link", name="First lab").click()
    expect(page.locator("article.step h1")).to_have_text("Welcome")
    page.get_by_role("link", name="Look around →").click()
    run = page.locator('code.action[data-action="run"]').first
    expect(run).to_have_text("kubectl get namespaces")
    expect(page.get_by_text("Page 2 of 4")).to_be_visible()
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")  # none done
    expect(page.get_by_test_id("start-card")).to_contain_text("Start the lab")
    page.get_by_role("link", name="Create a namespace →").click()
    page.locator("summary", has_text="Hints").click()
    expect(page.locator(".hints li")).to_contain_text("kubectl create namespace NAME")
    page.get_by_role("link", name="Well done →").click()
    expect(page.locator("article.step h1")).to_have_text("Well done")
    page.get_by_role("link", name="Back to the course").click()
    expect(page).to_have_url(f"{server.url}/courses/mesh-101")
