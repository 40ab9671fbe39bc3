from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labplatform import __version__
from labplatform.app import BUNDLE, create_app
from labplatform.settings import load_settings


@pytest.fixture
def client(courses_dir: Path) -> TestClient:
    return TestClient(create_app(load_settings(courses_dir=courses_dir)))


def test_health_version_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    version = client.get("/version").json()
    assert version["version"] == __version__
    assert version["backend"] == "embedded"
    ready = client.get("/readyz")
    assert ready.json()["checks"]["frontend_built"] == BUNDLE.is_file()
    assert ready.status_code == (200 if BUNDLE.is_file() else 503)


def test_readiness_fails_when_courses_folder_is_missing(tmp_path: Path) -> None:
    app = create_app(load_settings(courses_dir=tmp_path / "absent"))
    ready = TestClient(app).get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["courses_dir_exists"] is False


def test_landing_page_lists_courses(client: TestClient, courses_dir: Path) -> None:
    (courses_dir / "mesh").mkdir()
    (courses_dir / "mesh" / "course.yaml").write_text("title: Mesh <b>basics</b>\n")
    page = client.get("/")
    assert page.status_code == 200
    assert "Mesh &lt;b&gt;basics&lt;/b&gt;" in page.text  # escaped, not injected
    assert 'data-course="mesh"' in page.text


def test_landing_page_says_where_to_add_courses(client: TestClient, courses_dir: Path) -> None:
    page = client.get("/")
    assert "No courses yet" in page.text
    assert str(courses_dir) in page.text


def test_unknown_path_is_404(client: TestClient) -> None:
    assert client.get("/no-such-page").status_code == 404
