"""What a course is, once loaded, whatever format it was written in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One mistake in a course, where an author will look for it."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Step:
    """A page of a lab: Markdown text, and how the grader checks it."""

    slug: str
    title: str
    path: Path
    text: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    solution: str = ""
    verify: Path | None = None  # Killercoda: a script that exits 0 when the step is done


@dataclass(frozen=True)
class Asset:
    """A course file copied into the learner's cluster before they arrive (Killercoda)."""

    source: Path
    target: str  # a directory in the cluster
    chmod: str | None = None  # e.g. "+x"


@dataclass
class Lab:
    """A sequence of steps run in one cluster."""

    slug: str
    title: str
    path: Path
    description: str = ""
    difficulty: str = ""
    minutes: int | None = None
    intro: Step | None = None
    steps: list[Step] = field(default_factory=list)
    finish: Step | None = None
    setup: list[Path] = field(default_factory=list)  # scripts run before the learner arrives
    foreground: list[Path] = field(default_factory=list)  # scripts run in the learner's terminal
    tabs: list[dict[str, Any]] = field(default_factory=list)  # app tabs: name and port
    assets: list[Asset] = field(default_factory=list)


@dataclass
class Course:
    slug: str
    title: str
    path: Path
    format: str
    description: str = ""
    labs: list[Lab] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """The first problem, as the catalog shows a broken course."""
        return str(self.problems[0]) if self.problems else None
