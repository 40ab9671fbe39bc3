"""Running a step's checks, giving state that settles over time a moment to settle.

A rule the learner just applied reaches every proxy within a second or so;
a pod takes longer to become ready. So a failing check is tried again until
it passes or ``settle`` seconds have gone by, and only then reported. A
check that breaks (the API unreachable, a bug in a lab's Python check) is a
failed check that says why, never an error page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from grader.checks import Check
from grader.context import CheckContext
from grader.results import CheckResult

log = logging.getLogger(__name__)

SETTLE_SECONDS = 10.0
RETRY_SECONDS = 0.5


def run_checks(
    checks: Sequence[Check], context: CheckContext, settle: float = SETTLE_SECONDS
) -> list[CheckResult]:
    """Each check's result; a failing one is retried until it passes or ``settle`` runs out."""
    results = []
    for check in checks:
        began = time.monotonic()
        result = _attempt(check, context)
        while not result.passed and time.monotonic() - began < settle:
            time.sleep(RETRY_SECONDS)
            result = _attempt(check, context)
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


def _attempt(check: Check, context: CheckContext) -> CheckResult:
    try:
        return check.run(context)
    except Exception as exc:  # a broken check fails with its reason, like any other
        log.warning("a check raised", exc_info=True, extra={"check": check.title})
        return CheckResult(check.title, False, f"the check could not run: {exc}")
