"""The native format: ``course.yaml``, a folder per lab with ``lab.yaml`` and steps.

::

    mesh-101/
      course.yaml          title, description, labs: [routing, ...] (default: every lab folder)
      routing/
        lab.yaml           title, description, difficulty, time (minutes), setup, files,
                           tabs, steps
        intro.md           optional
        01-subsets.md      steps, in name order unless lab.yaml lists them
        finish.md          optional

``setup`` names a script, or a list of them, run in the cluster before the
learner arrives. ``files`` lists course files or folders (paths from the lab
folder, inside the course) copied into the learner's home first, so set-up
scripts and the learner's commands can use them: ``files: [../manifests]``
gives ``~/manifests/``; ``{from: ../manifests, to: /srv}`` puts it elsewhere.

A step's front matter may set ``title``, ``checks``, ``hints`` and ``solution``.
Without a ``solution``, a step's click-to-run blocks, in order, are its
solution: ``course play`` runs them as one script (which fails if its last
command does), so a lab that plays green can be followed by clicking
through its text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grader.checks import CheckSpecError, parse_check
from labplatform.courses.files import (
    Problems,
    line_of,
    read_text,
    read_yaml,
    split_front_matter,
)
from labplatform.courses.markdown import runnable_blocks
from labplatform.courses.model import Asset, Course, Lab, Step

COURSE_FILE = "course.yaml"
LAB_FILE = "lab.yaml"
COURSE_KEYS = {"title", "description", "labs"}
LAB_KEYS = {"title", "description", "difficulty", "time", "setup", "files", "tabs", "steps"}
NOTHING_TO_RUN = "this step has checks but nothing to run: add click-to-run blocks or a solution"
HOME = "/root"  # the learner's home in every backend's shell
STEP_KEYS = {"title", "checks", "hints", "solution"}
DIFFICULTIES = ("beginner", "intermediate", "advanced")
SPECIAL_PAGES = ("intro.md", "finish.md")


def load_course(folder: Path) -> Course:
    problems = Problems()
    path = folder / COURSE_FILE
    text = read_text(path, problems) or ""
    raw = read_yaml(path, problems, text) if text else None
    if problems:  # nothing more can be said of an unreadable file
        return Course(folder.name, folder.name, folder, "native", problems=problems)
    data = _mapping(path, raw, problems)
    _unknown_keys(path, text, data, COURSE_KEYS, problems)
    course = Course(
        slug=folder.name,
        title=_title(path, text, data, problems, folder.name),
        path=folder,
        format="native",
        description=str(data.get("description") or "").strip(),
        problems=problems,
    )
    listed = data.get("labs")
    if listed is None:
        lab_folders = sorted(p for p in folder.iterdir() if (p / LAB_FILE).is_file())
    elif isinstance(listed, list) and all(isinstance(n, str) for n in listed):
        lab_folders = [folder / name for name in listed]
    else:
        problems.add(path, line_of(text, "labs"), "'labs' must be a list of lab folder names")
        lab_folders = []
    if not lab_folders and listed is None:
        problems.add(path, 1, f"no labs: add a folder holding a {LAB_FILE}")
    course.labs = [_load_lab(lab, problems) for lab in lab_folders]
    return course


def _load_lab(folder: Path, problems: Problems) -> Lab:
    path = folder / LAB_FILE
    text = read_text(path, problems) or ""
    data = _mapping(path, read_yaml(path, problems, text) if text else None, problems)
    _unknown_keys(path, text, data, LAB_KEYS, problems)
    lab = Lab(
        slug=folder.name,
        title=_title(path, text, data, problems, folder.name),
        path=folder,
        description=str(data.get("description") or "").strip(),
    )
    difficulty = data.get("difficulty")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        problems.add(
            path,
            line_of(text, "difficulty"),
            f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}",
        )
    lab.difficulty = str(difficulty or "")
    minutes = data.get("time")
    if minutes is not None and (not isinstance(minutes, int) or minutes <= 0):
        problems.add(
            path,
            line_of(text, "time"),
            f"time is minutes, a positive whole number, not {minutes!r}",
        )
    lab.minutes = minutes if isinstance(minutes, int) else None
    setup = data.get("setup")
    for name in setup if isinstance(setup, list) else [] if setup is None else [setup]:
        lab.setup.append(_existing(folder, name, path, text, "setup", problems))
    lab.assets = _files(folder, path, text, data.get("files"), problems)
    lab.tabs = _tabs(path, text, data.get("tabs"), problems)
    listed = data.get("steps")
    if listed is None:
        names = sorted(p.name for p in folder.glob("*.md") if p.name not in SPECIAL_PAGES)
    elif isinstance(listed, list) and all(isinstance(n, str) for n in listed):
        names = list(listed)
    else:
        problems.add(path, line_of(text, "steps"), "'steps' must be a list of Markdown file names")
        names = []
    if not names:
        problems.add(path, 1, "no steps: add a Markdown file such as 01-first-step.md")
    lab.steps = [s for s in (_load_step(folder / name, problems) for name in names) if s]
    lab.intro = (
        _load_step(folder / "intro.md", problems) if (folder / "intro.md").is_file() else None
    )
    if (folder / "finish.md").is_file():
        lab.finish = _load_step(folder / "finish.md", problems)
    return lab


def _load_step(path: Path, problems: Problems) -> Step | None:
    text = read_text(path, problems)
    if text is None:
        return None
    meta, body = split_front_matter(path, text, problems)
    for key in sorted(set(meta) - STEP_KEYS):
        problems.add(
            path,
            line_of(text, key),
            f"unknown front matter key {key!r} (known: {', '.join(sorted(STEP_KEYS))})",
        )
    title = meta.get("title") or _first_heading(body) or path.stem
    checks = meta.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        problems.add(path, line_of(text, "checks"), "'checks' must be a list of mappings")
        checks = []
    for number, check in enumerate(checks, 1):
        try:
            parse_check(check)
        except CheckSpecError as exc:
            problems.add(path, line_of(text, "checks"), f"check {number}: {exc}")
    hints = meta.get("hints") or []
    if not isinstance(hints, list):
        problems.add(path, line_of(text, "hints"), "'hints' must be a list of strings")
        hints = []
    solution = str(meta.get("solution") or "") or "\n".join(runnable_blocks(body))
    if checks and not solution:
        problems.add(path, 1, NOTHING_TO_RUN)
    return Step(path.stem, str(title), path, body, checks, [str(h) for h in hints], solution)


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _mapping(path: Path, data: Any, problems: Problems) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.add(path, 1, "expected a mapping of keys to values at the top")
        return {}
    return data


def _title(path: Path, text: str, data: dict[str, Any], problems: Problems, default: str) -> str:
    title = data.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    problems.add(path, line_of(text, "title") if "title" in data else 1, "missing a 'title' string")
    return default


def _unknown_keys(
    path: Path, text: str, data: dict[str, Any], known: set[str], problems: Problems
) -> None:
    for key in sorted(set(data) - known):
        problems.add(
            path,
            line_of(text, str(key)),
            f"unknown key {key!r} (known: {', '.join(sorted(known))})",
        )


def _existing(folder: Path, name: Any, path: Path, text: str, key: str, problems: Problems) -> Path:
    script = folder / str(name)
    if not script.is_file():
        problems.add(path, line_of(text, key), f"{key}: {name} does not exist in {folder.name}/")
    return script


def _files(folder: Path, path: Path, text: str, files: Any, problems: Problems) -> list[Asset]:
    """The course files ``files`` names, each with the folder it is copied to."""
    if files is None:
        return []
    course = folder.parent
    found: list[Asset] = []
    for entry in files if isinstance(files, list) else [files]:
        source, target = (entry, HOME) if isinstance(entry, str) else (None, None)
        if isinstance(entry, dict) and isinstance(entry.get("from"), str):
            source, target = entry["from"], str(entry.get("to") or HOME)
        if source is None or target is None:
            problems.add(
                path, line_of(text, "files"), f"each file is a path or {{from, to}}, got {entry!r}"
            )
            continue
        where = Path(os.path.normpath(folder / source))
        if not where.is_relative_to(course):
            problems.add(path, line_of(text, "files"), f"files: {source} is outside the course")
        elif where.is_file():
            found.append(Asset(where, target))
        elif where.is_dir():
            for parent, _, names in sorted(os.walk(where, followlinks=True)):
                inside = Path(parent).relative_to(where.parent)
                found += [Asset(Path(parent) / n, f"{target}/{inside}") for n in sorted(names)]
        else:
            problems.add(path, line_of(text, "files"), f"files: {source} does not exist")
    return found


def _tabs(path: Path, text: str, tabs: Any, problems: Problems) -> list[dict[str, Any]]:
    if tabs is None:
        return []
    good = []
    for tab in tabs if isinstance(tabs, list) else [tabs]:
        if (
            isinstance(tab, dict)
            and isinstance(tab.get("name"), str)
            and isinstance(tab.get("port"), int)
        ):
            good.append(tab)
        else:
            problems.add(
                path, line_of(text, "tabs"), f"each tab needs a name and a port number, got {tab!r}"
            )
    return good
