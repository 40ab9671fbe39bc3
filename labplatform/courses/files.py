"""Reading course files with line numbers for every complaint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from labplatform.courses.model import Problem

# libyaml's loader when PyYAML has it: the catalog reads every course on each request.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Problems(list[Problem]):
    """Problems found so far; ``add`` keeps call sites short."""

    def add(self, path: Path, line: int, message: str) -> None:
        self.append(Problem(path, line, message))


def read_text(path: Path, problems: Problems) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(path, 1, "file not found")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, 1, f"cannot read: {exc}")
    return None


def read_yaml(path: Path, problems: Problems, text: str | None = None, first_line: int = 1) -> Any:
    """The YAML in ``path`` (or ``text`` found in it at ``first_line``); None if broken."""
    if text is None:
        text = read_text(path, problems)
        if text is None:
            return None
    try:
        return yaml.load(text, Loader=_LOADER)  # a safe loader, C or Python
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
        problems.add(path, line, f"invalid YAML: {getattr(exc, 'problem', exc)}")
        return None


def read_json(path: Path, problems: Problems) -> Any:
    text = read_text(path, problems)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(path, exc.lineno, f"invalid JSON: {exc.msg}")
        return None


def split_front_matter(path: Path, text: str, problems: Problems) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a Markdown step; a step needs no front matter."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---\n", 4)
    if end < 0:
        problems.add(path, 1, "front matter starts with '---' but never ends with '---'")
        return {}, text
    meta = read_yaml(path, problems, text[4:end], first_line=2)
    if meta is None:
        return {}, text[end + 5 :]
    if not isinstance(meta, dict):
        problems.add(path, 2, "front matter must be a mapping of keys to values")
        return {}, text[end + 5 :]
    return meta, text[end + 5 :]


def line_of(text: str, key: str) -> int:
    """The line where a top-level YAML key is written, for messages about its value."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(f"{key}:"):
            return number
    return 1
