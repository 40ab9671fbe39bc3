"""Reading one check from a step's front matter, with errors that name the key at fault."""

from __future__ import annotations

import json
from typing import Any

from labkit.durations import parse_duration


class CheckSpecError(ValueError):
    """A check written wrongly; the message says which key and why."""


class Spec:
    """A check's mapping; each getter records the key, and :meth:`done` refuses the rest."""

    def __init__(self, raw: Any, kind: str) -> None:
        if not isinstance(raw, dict):
            raise CheckSpecError(f"a check must be a mapping, not {json.dumps(raw)}")
        self.raw = raw
        self.kind = kind
        self.used = {"check", "message", "hint"}

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.raw.get(key, default)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or (default is None and not value):
            raise CheckSpecError(f"a {self.kind} check needs '{key}' (a string)")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CheckSpecError(f"'{key}' in a {self.kind} check must be a number")
        return float(value)

    def seconds(self, key: str, default: str) -> float:
        return seconds(self.get(key, default), f"'{key}' in a {self.kind} check")

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise CheckSpecError(f"'{key}' in a {self.kind} check must be a mapping")
        return value

    @property
    def message(self) -> str:
        return str(self.raw.get("message") or "")

    @property
    def hint(self) -> str:
        return str(self.raw.get("hint") or "")

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise CheckSpecError(f"unknown key(s) {', '.join(unknown)} in a {self.kind} check")


def seconds(value: Any, what: str) -> float:
    """A number of seconds, or a duration like ``2s`` or ``500ms``, as seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(parse_duration(str(value)))
    except ValueError:
        raise CheckSpecError(f"{what} must be a duration like 2s or 500ms") from None
