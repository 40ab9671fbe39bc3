"""``course play``: a lab played by its own solutions, proving its checks mean something.

A fresh cluster is prepared as for a learner; then, step by step, the
step's checks must fail (a check that passes before the work is done tests
nothing), its solution runs as the learner's commands would, and its checks
must pass. Steps build on each other, so every step's solution runs, checks
or not. Any deviation makes the play fail, with what the checks saw.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from grader.context import CheckContext
from grader.results import CheckResult
from labplatform.clusters.backend import ClusterBackend, Progress
from labplatform.courses.model import Lab, Step
from labplatform.sessions.grading import check_context, grade
from labplatform.sessions.setup import prepare

SOLUTION_TIMEOUT = 300.0
SETTLE_AFTER = 30.0  # a solution's effects take a moment to reach every proxy


@dataclass
class StepPlay:
    step: Step
    before: list[CheckResult] = field(default_factory=list)
    solution: str = "none"  # none, ran, failed: ...
    after: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def graded(self) -> bool:
        return bool(self.step.checks or self.step.verify)

    @property
    def deviation(self) -> str:
        """Why this step breaks the play, or "" if it played as it should."""
        if self.solution.startswith("failed"):
            return f"its solution {self.solution}"
        if not self.graded:
            return ""
        if not self.step.solution:
            return "it has checks but no solution to play"
        if self.before and all(r.passed for r in self.before):
            return "its checks passed before its solution ran"
        failing = [r for r in self.after if not r.passed]
        if failing:
            return "after its solution: " + "; ".join(f"{r.name}: {r.observed}" for r in failing)
        return ""


def play(
    backend: ClusterBackend, lab: Lab, progress: Progress, keep: bool = False
) -> Iterator[StepPlay]:
    """Play ``lab`` in a new cluster, yielding each step as it is played."""
    cluster = f"play-{secrets.token_hex(4)}"
    progress(f"creating cluster {cluster}")
    try:
        backend.create(cluster, progress)
        prepare(backend, cluster, lab, progress)
        with check_context(backend, cluster, lab.path) as context:
            for step in lab.steps:
                began = time.monotonic()
                played = StepPlay(step)
                if played.graded:
                    played.before = grade(step, context, settle=0)
                if step.solution:
                    played.solution = _solve(context, step.solution)
                if played.graded and not played.solution.startswith("failed"):
                    played.after = grade(step, context, settle=SETTLE_AFTER)
                played.seconds = time.monotonic() - began
                yield played
    finally:
        if keep:
            progress(f"kept cluster {cluster}")
        else:
            backend.delete(cluster)


def _solve(context: CheckContext, solution: str) -> str:
    """Run a step's solution where the learner's shell runs: "ran", or why it failed."""
    status, output = context.shell(solution, SOLUTION_TIMEOUT)
    if status != 0:
        tail = " / ".join(output.strip().splitlines()[-3:])
        return f"failed: exit {status}: {tail}"
    return "ran"
