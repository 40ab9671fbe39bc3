"""Finding courses in a folder, whichever format each is written in."""

from __future__ import annotations

from pathlib import Path

from labplatform.courses.killercoda import SCENARIO_FILE, load_scenario
from labplatform.courses.model import Course
from labplatform.courses.native import COURSE_FILE, load_course


def is_course(folder: Path) -> bool:
    return (folder / COURSE_FILE).is_file() or (folder / SCENARIO_FILE).is_file()


def load(folder: Path) -> Course:
    """One course folder; native when it has both files."""
    if (folder / COURSE_FILE).is_file():
        return load_course(folder)
    return load_scenario(folder)


def discover_courses(root: Path) -> list[Course]:
    """Every course directly under ``root`` (or ``root`` itself), sorted by folder name."""
    if not root.is_dir():
        return []
    if is_course(root):
        return [load(root)]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [load(folder) for folder in folders if is_course(folder)]
