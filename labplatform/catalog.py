"""The courses found on disk, summarised for the catalog page.

A course is a folder holding either ``course.yaml`` (the native format) or
``index.json`` (a Killercoda/Katacoda scenario, imported unchanged). A folder
whose file cannot be read still appears, with the reason, so an author sees
their mistake on the page instead of a course silently missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml's loader when PyYAML was built with it: the catalog reads every
# course file on each request, and the pure-Python loader is 10x slower.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NATIVE_FILE = "course.yaml"
SCENARIO_FILE = "index.json"


@dataclass(frozen=True)
class CourseSummary:
    """What the catalog shows of one course; ``error`` is set when it is broken."""

    slug: str
    title: str
    description: str = ""
    format: str = "native"
    error: str | None = None


def discover_courses(root: Path) -> list[CourseSummary]:
    """Every course directly under ``root``, sorted by slug; none if it is absent."""
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (folder / NATIVE_FILE).is_file():
            found.append(_summarise(folder, NATIVE_FILE, "native", _load_yaml))
        elif (folder / SCENARIO_FILE).is_file():
            found.append(_summarise(folder, SCENARIO_FILE, "killercoda", json.loads))
    return found


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader, C or Python


def _summarise(folder: Path, filename: str, fmt: str, parse: Any) -> CourseSummary:
    path = folder / filename
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        return CourseSummary(folder.name, folder.name, format=fmt, error=f"{filename}: {exc}")
    if not isinstance(data, dict):
        return CourseSummary(
            folder.name, folder.name, format=fmt, error=f"{filename}: expected a mapping at the top"
        )
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        return CourseSummary(
            folder.name, folder.name, format=fmt, error=f"{filename}: missing a 'title' string"
        )
    description = data.get("description", "")
    return CourseSummary(
        folder.name, title.strip(), str(description).strip() if description else "", fmt
    )
