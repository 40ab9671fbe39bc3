import json
from pathlib import Path

from labplatform.catalog import discover_courses


def test_native_and_killercoda_courses_are_listed_in_order(courses_dir: Path) -> None:
    (courses_dir / "mesh-101").mkdir()
    (courses_dir / "mesh-101" / "course.yaml").write_text(
        "title: The service mesh\ndescription: Sidecars, pilot and mixer.\n"
    )
    (courses_dir / "k8s-basics").mkdir()
    (courses_dir / "k8s-basics" / "index.json").write_text(
        json.dumps({"title": "Kubernetes basics", "description": "Pods and services"})
    )
    (courses_dir / "notes").mkdir()  # neither file: not a course
    courses = discover_courses(courses_dir)
    assert [(c.slug, c.title, c.format) for c in courses] == [
        ("k8s-basics", "Kubernetes basics", "killercoda"),
        ("mesh-101", "The service mesh", "native"),
    ]
    assert courses[1].description == "Sidecars, pilot and mixer."
    assert all(c.error is None for c in courses)


def test_broken_courses_are_listed_with_the_reason(courses_dir: Path) -> None:
    (courses_dir / "bad-yaml").mkdir()
    (courses_dir / "bad-yaml" / "course.yaml").write_text("title: [unclosed\n")
    (courses_dir / "no-title").mkdir()
    (courses_dir / "no-title" / "course.yaml").write_text("description: x\n")
    (courses_dir / "bad-json").mkdir()
    (courses_dir / "bad-json" / "index.json").write_text("{not json")
    errors = {c.slug: c.error for c in discover_courses(courses_dir)}
    assert errors["bad-yaml"] is not None and errors["bad-yaml"].startswith("course.yaml:")
    assert errors["no-title"] == "course.yaml: missing a 'title' string"
    assert errors["bad-json"] is not None and "Expecting property name" in errors["bad-json"]


def test_missing_folder_means_no_courses(tmp_path: Path) -> None:
    assert discover_courses(tmp_path / "absent") == []
