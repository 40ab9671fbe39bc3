"""Finding courses in a folder, whichever format each is written in."""

from __future__ import annotations

from pathlib import Path

from labplatform.courses.killercoda import SCENARIO_FILE, load_scenario
from labplatform.courses.markdown import text_problems
from labplatform.courses.model import Course
from labplatform.courses.native import COURSE_FILE, load_course


def is_course(folder: Path) -> bool:
    return (folder / COURSE_FILE).is_file() or (folder / SCENARIO_FILE).is_file()


def load(folder: Path) -> Course:
    """One course folder (native when it has both files), its step texts checked too."""
    course = load_course(folder) if (folder / COURSE_FILE).is_file() else load_scenario(folder)
    for lab in course.labs:
        pages = [lab.intro, *lab.steps, lab.finish]
        for step in (page for page in pages if page is not None and page.path.is_file()):
            # The whole file, so line numbers count the front matter too.
            full = step.path.read_text(encoding="utf-8", errors="replace")
            course.problems.extend(text_problems(step.path, full, folder))
    return course


def discover_courses(root: Path) -> list[Course]:
    """Every course directly under ``root`` (or ``root`` itself), sorted by folder name."""
    if not root.is_dir():
        return []
    if is_course(root):
        return [load(root)]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [load(folder) for folder in folders if is_course(folder)]
