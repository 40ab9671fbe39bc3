"""Verify scripts (Killercoda's ``verify.sh``): a shell script decides, its output explains.

A script passes when it exits 0, or when the last line it prints is
``done`` (Katacoda's older convention, so imported scenarios grade as they
did). Lines starting ``FAIL:`` are what the learner is told, as Instruqt's
checks do; without any, the script's last lines of output are shown.
"""

from __future__ import annotations

from grader.results import CheckResult

SHOWN_LINES = 5


def verdict(name: str, returncode: int, output: str) -> CheckResult:
    lines = [line.rstrip() for line in output.strip().splitlines() if line.strip()]
    passed = returncode == 0 or (bool(lines) and lines[-1].strip() == "done")
    failures = [line.removeprefix("FAIL:").strip() for line in lines if line.startswith("FAIL:")]
    if passed:
        observed = "the verify script passed"
    elif failures:
        observed = "; ".join(failures)
    else:
        shown = " / ".join(lines[-SHOWN_LINES:]) or "no output"
        observed = f"the verify script exited with {returncode}: {shown}"
    return CheckResult(name, passed, observed)
