"""Killercoda and Katacoda scenarios (``index.json``), imported unchanged.

A scenario becomes a course with one lab. Killercoda names its scripts
``background``/``foreground``; Katacoda named them ``courseData``/``code``;
both are read. A step's ``verify`` script passes when it exits 0 (Katacoda's
plain steps printed "done" instead, which the grader honours too). Assets
are files under ``assets/`` copied into the cluster; dashboards become app
tabs when they name a port.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from labplatform.courses.files import Problems, read_json, read_text
from labplatform.courses.model import Asset, Course, Lab, Step

SCENARIO_FILE = "index.json"
_BACKGROUND = ("background", "courseData")
_FOREGROUND = ("foreground", "code")


def load_scenario(folder: Path) -> Course:
    problems = Problems()
    path = folder / SCENARIO_FILE
    data = read_json(path, problems)
    if data is not None and not isinstance(data, dict):
        problems.add(path, 1, "expected a JSON object at the top")
    if not isinstance(data, dict):  # nothing more can be said of an unreadable file
        return Course(folder.name, folder.name, folder, "killercoda", problems=problems)
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.add(path, 1, "missing a 'title' string")
        title = folder.name
    details: dict[str, Any] = data["details"] if isinstance(data.get("details"), dict) else {}
    lab = Lab(
        slug=folder.name,
        title=title.strip(),
        path=folder,
        description=str(data.get("description") or "").strip(),
        difficulty=str(data.get("difficulty") or "").lower(),
        minutes=_minutes(data.get("time")),
        tabs=_tabs(data.get("environment")),
    )
    intro = details.get("intro")
    if isinstance(intro, dict):
        lab.intro = _page(folder, intro, "intro", "Introduction", path, problems)
        lab.setup = _scripts(folder, intro, _BACKGROUND, path, problems)
        lab.foreground = _scripts(folder, intro, _FOREGROUND, path, problems)
    steps = details.get("steps", [])
    if not isinstance(steps, list) or not steps:
        problems.add(path, 1, "details.steps must be a non-empty list")
        steps = []
    for index, spec in enumerate(steps, 1):
        if not isinstance(spec, dict):
            problems.add(path, 1, f"details.steps[{index - 1}] must be an object")
            continue
        step = _page(folder, spec, f"step{index}", f"Step {index}", path, problems)
        if step is not None:
            lab.steps.append(step)
    finish = details.get("finish")
    if isinstance(finish, dict):
        lab.finish = _page(folder, finish, "finish", "Finish", path, problems)
    lab.assets = _assets(folder, details.get("assets"), path, problems)
    return Course(folder.name, lab.title, folder, "killercoda", lab.description, [lab], problems)


def _page(
    folder: Path, spec: dict[str, Any], slug: str, default: str, index: Path, problems: Problems
) -> Step | None:
    name = spec.get("text")
    if not isinstance(name, str):
        problems.add(index, 1, f"{slug}: missing 'text' (the Markdown file)")
        return None
    text = read_text(folder / name, problems)
    step = Step(slug, str(spec.get("title") or default), folder / name, text or "")
    if spec.get("verify"):
        step.verify = folder / str(spec["verify"])
        if not step.verify.is_file():
            problems.add(index, 1, f"{slug}: verify script {spec['verify']} does not exist")
    if spec.get("hint") and (hint := read_text(folder / str(spec["hint"]), problems)):
        step.hints.append(hint)
    if spec.get("answer") and (answer := read_text(folder / str(spec["answer"]), problems)):
        step.solution = answer
    return step


def _scripts(
    folder: Path, spec: dict[str, Any], keys: tuple[str, ...], index: Path, problems: Problems
) -> list[Path]:
    found = []
    for key in keys:
        if spec.get(key):
            script = folder / str(spec[key])
            if not script.is_file():
                problems.add(index, 1, f"intro.{key}: {spec[key]} does not exist")
            found.append(script)
    return found


def _assets(folder: Path, assets: Any, index: Path, problems: Problems) -> list[Asset]:
    """Every file to copy into the cluster; hosts are one here (the node), so all go there."""
    found: list[Asset] = []
    if not isinstance(assets, dict):
        return found
    for host, files in assets.items():
        for entry in files if isinstance(files, list) else []:
            pattern = str(entry.get("file", "")) if isinstance(entry, dict) else ""
            matches = sorted(p for p in (folder / "assets").glob(pattern) if p.is_file())
            if not pattern or not matches:
                problems.add(index, 1, f"assets.{host}: no file in assets/ matches {pattern!r}")
                continue
            target = str(entry.get("target") or "/root")
            mode = str(entry["chmod"]) if entry.get("chmod") is not None else None
            found += [Asset(match, target, mode) for match in matches]
    return found


def _minutes(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    match = re.match(r"\s*(\d+)", str(value or ""))
    return int(match.group(1)) if match else None


def _tabs(environment: Any) -> list[dict[str, Any]]:
    dashboards = environment.get("dashboards", []) if isinstance(environment, dict) else []
    return [
        {"name": str(d.get("name", f"Port {d['port']}")), "port": int(d["port"])}
        for d in dashboards
        if isinstance(d, dict) and str(d.get("port", "")).isdigit()
    ]
