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
