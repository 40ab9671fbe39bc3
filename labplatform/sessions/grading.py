"""Check: a step's checks run against the learner's live cluster.

The declarative checks read the cluster's Kubernetes API with the
learner's credentials and send their requests from where the learner's
shell runs; a verify script runs there too. All of it goes through the
backend interface only, so Check works on every backend.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.dynamic import DynamicClient

from grader.checks import CheckSpecError, parse_check
from grader.context import CheckContext
from grader.results import CheckResult
from grader.runner import run_checks
from grader.verify import verdict
from labplatform.clusters.backend import ApiAccess, ClusterBackend, run_script
from labplatform.courses.model import Step

VERIFY_TIMEOUT = 60.0
SETTLE_SECONDS = 5.0


def api_client(api: ApiAccess) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    configuration.host = api.server
    configuration.ssl_ca_cert = str(api.ca_file)
    configuration.api_key = {"authorization": f"Bearer {api.token}"}
    return k8s.ApiClient(configuration)


@contextmanager
def check_context(
    backend: ClusterBackend, cluster: str, lab_dir: Path | None
) -> Iterator[CheckContext]:
    """What checks need of ``cluster``: its API, and a shell where the learner's runs."""

    def shell(script: str, timeout: float) -> tuple[int, str]:
        try:
            done = run_script(backend, cluster, script, timeout)
        except subprocess.TimeoutExpired:
            return 124, f"timed out after {timeout:g} s"
        return done.returncode, done.stdout + done.stderr

    with api_client(backend.api(cluster)) as client:
        yield CheckContext(DynamicClient(client), shell, lab_dir)


def grade(step: Step, context: CheckContext, settle: float = SETTLE_SECONDS) -> list[CheckResult]:
    """Every check of ``step``, and its verify script (blocking: call it from a thread)."""
    results: list[CheckResult] = []
    if step.checks:
        try:
            checks = [parse_check(spec) for spec in step.checks]
        except CheckSpecError as exc:  # lint catches this; a live edit in --dev may not
            return [CheckResult("the step's checks", False, f"the course is broken: {exc}")]
        results += run_checks(checks, context, settle=settle)
    if step.verify is not None:
        status, output = context.shell(step.verify.read_text(), VERIFY_TIMEOUT)
        results.append(verdict("verify", status, output))
    return results


def grade_in(step: Step, backend: ClusterBackend, cluster: str) -> list[CheckResult]:
    """Check, as the lab page's button does: ``step``'s checks in ``cluster``."""
    with check_context(backend, cluster, step.path.parent) as context:
        return grade(step, context)
