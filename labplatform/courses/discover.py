"""Finding courses in a folder, whichever format each is written in.

A course is parsed again only when one of its files changed (by size or
modification time), so authors see every edit on reload while a busy
catalog costs a few ``stat`` calls rather than a parse of every course.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from labplatform.courses.killercoda import SCENARIO_FILE, load_scenario
from labplatform.courses.markdown import text_problems
from labplatform.courses.model import Course
from labplatform.courses.native import COURSE_FILE, load_course


def is_course(folder: Path) -> bool:
    return (folder / COURSE_FILE).is_file() or (folder / SCENARIO_FILE).is_file()


_parsed: dict[Path, tuple[frozenset[tuple[str, int, int]], Course]] = {}


def _signature(folder: Path) -> frozenset[tuple[str, int, int]]:
    found = set()
    for path in folder.rglob("*"):
        try:
            info = path.stat()
        except OSError:  # removed while we looked: the next request sees the change
            continue
        found.add((str(path), info.st_mtime_ns, info.st_size))
    return frozenset(found)


def load(folder: Path) -> Course:
    """One course folder, parsed again only if a file in it changed since the last time."""
    signature = _signature(folder)
    cached = _parsed.get(folder)
    if cached is not None and cached[0] == signature:
        return cached[1]
    course = _parse(folder)
    _parsed[folder] = (signature, course)
    return course


def _parse(folder: Path) -> Course:
    """One course folder (native when it has both files), its step texts checked too."""
    course = load_course(folder) if (folder / COURSE_FILE).is_file() else load_scenario(folder)
    for lab in course.labs:
        pages = [lab.intro, *lab.steps, lab.finish]
        for step in (page for page in pages if page is not None and page.path.is_file()):
            # The whole file, so line numbers count the front matter too.
            full = step.path.read_text(encoding="utf-8", errors="replace")
            course.problems.extend(text_problems(step.path, full, folder))
    return course


def content_version(root: Path) -> str:
    """A digest of every course file's name, size and time: it changes when an author saves."""
    digest = hashlib.sha256()
    for entry in sorted(_signature(root)) if root.is_dir() else []:
        digest.update(repr(entry).encode())
    return digest.hexdigest()[:16]


def discover_courses(root: Path) -> list[Course]:
    """Every course directly under ``root`` (or ``root`` itself), sorted by folder name."""
    if not root.is_dir():
        return []
    if is_course(root):
        return [load(root)]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [load(folder) for folder in folders if is_course(folder)]
