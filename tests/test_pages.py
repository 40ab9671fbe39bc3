"""Course pages served by the real app: catalog, course, lab steps, course files."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labplatform.app import create_app
from labplatform.courses.scaffold import new_course
from labplatform.settings import load_settings


@pytest.fixture
def client(courses_dir: Path) -> TestClient:
    folder = new_course(courses_dir, "mesh-101")
    (folder / "first-lab" / "graph.png").write_bytes(b"\x89PNG fake image bytes")
    step = folder / "first-lab" / "01-look-around.md"
    step.write_text(step.read_text() + "\n![graph](graph.png)\n")
    return TestClient(create_app(load_settings(courses_dir=courses_dir)))


def test_catalog_links_to_the_course(client: TestClient) -> None:
    page = client.get("/").text
    assert '<a href="/courses/mesh-101">Mesh 101</a>' in page
    assert "1 lab" in page


def test_course_page_lists_labs_with_time_and_difficulty(client: TestClient) -> None:
    page = client.get("/courses/mesh-101").text
    assert '<a href="/courses/mesh-101/first-lab">First lab</a>' in page
    assert "2 steps" in page and "15 min" in page and "beginner" in page


def test_a_lab_starts_at_its_intro_and_pages_through(client: TestClient) -> None:
    start = client.get("/courses/mesh-101/first-lab", follow_redirects=False)
    assert start.status_code == 307 and start.headers["location"].endswith("/first-lab/intro")
    step = client.get("/courses/mesh-101/first-lab/01-look-around").text
    assert 'data-action="run"' in step and "kubectl get namespaces</code>" in step
    assert "Page 2 of 4" in step  # intro, 2 steps, finish
    assert 'aria-valuenow="0"' in step and 'aria-valuemax="2"' in step  # steps done of steps
    assert 'data-testid="start-lab"' in step  # no session yet: the workspace offers one
    assert 'rel="prev" href="/courses/mesh-101/first-lab/intro"' in step
    assert 'rel="next" href="/courses/mesh-101/first-lab/02-create-a-namespace"' in step
    assert 'src="/courses/mesh-101/files/first-lab/graph.png"' in step
    assert "Hints" in step
    last = client.get("/courses/mesh-101/first-lab/finish").text
    assert "Back to the course" in last


def test_course_files_are_served_but_nothing_else(client: TestClient) -> None:
    image = client.get("/courses/mesh-101/files/first-lab/graph.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    for path in ("first-lab/lab.yaml", "../../../etc/passwd", "first-lab/%2e%2e/%2e%2e/x"):
        assert client.get(f"/courses/mesh-101/files/{path}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/courses/nope",
        "/courses/mesh-101/no-lab",
        "/courses/mesh-101/first-lab/no-step",
        "/courses/..%2f..%2fetc",
    ],
)
def test_unknown_pages_are_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_dev_mode_tells_pages_when_a_course_changed(courses_dir: Path) -> None:
    folder = new_course(courses_dir, "mesh-101")
    dev = TestClient(create_app(load_settings(courses_dir=courses_dir, dev=True)))
    assert 'name="dev-version-url"' in dev.get("/").text
    before = dev.get("/api/dev/version").json()["version"]
    assert dev.get("/api/dev/version").json()["version"] == before
    (folder / "first-lab" / "intro.md").write_text("# Welcome, edited\n")
    assert dev.get("/api/dev/version").json()["version"] != before
    plain = TestClient(create_app(load_settings(courses_dir=courses_dir)))
    assert plain.get("/api/dev/version").status_code == 404
    assert 'name="dev-version-url"' not in plain.get("/").text
