"""What a check says: passed or not, what it saw, and what to try next."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    observed: str
    hint: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        text = f"[{mark}] {self.name}: {self.observed}"
        return text + (f"\n       hint: {self.hint}" if self.hint and not self.passed else "")
