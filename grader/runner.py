"""Running a step's checks, giving state that settles over time a moment to settle."""

from __future__ import annotations

import time
from collections.abc import Sequence

from kubernetes.dynamic import DynamicClient

from grader.checks import ResourceCheck
from grader.results import CheckResult

SETTLE_SECONDS = 10.0
RETRY_SECONDS = 0.5


def run_checks(
    checks: Sequence[ResourceCheck], client: DynamicClient, settle: float = SETTLE_SECONDS
) -> list[CheckResult]:
    """Each check's result; a failing one is retried until it passes or ``settle`` runs out."""
    results = []
    for check in checks:
        began = time.monotonic()
        result = check.run(client)
        while not result.passed and time.monotonic() - began < settle:
            time.sleep(RETRY_SECONDS)
            result = check.run(client)
        results.append(
            CheckResult(
                result.name,
                result.passed,
                result.observed,
                result.hint,
                round(time.monotonic() - began, 3),
            )
        )
    return results
