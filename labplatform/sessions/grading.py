"""Check: a step's checks run against the learner's live cluster, and what is kept of it.

The declarative checks read the cluster's Kubernetes API with the
learner's credentials; a verify script runs where the learner's shell runs.
Both go through the backend interface only, so Check works on every backend.
"""

from __future__ import annotations

import subprocess

from kubernetes import client as k8s
from kubernetes.dynamic import DynamicClient

from grader.checks import CheckSpecError, parse_check
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


def grade(step: Step, backend: ClusterBackend, cluster: str) -> list[CheckResult]:
    """Every check of ``step`` (blocking: call it from a thread)."""
    results: list[CheckResult] = []
    if step.checks:
        try:
            checks = [parse_check(spec) for spec in step.checks]
        except CheckSpecError as exc:  # lint catches this; a live edit in --dev may not
            return [CheckResult("the step's checks", False, f"the course is broken: {exc}")]
        with api_client(backend.api(cluster)) as client:
            results += run_checks(checks, DynamicClient(client), settle=SETTLE_SECONDS)
    if step.verify is not None:
        try:
            done = run_script(backend, cluster, step.verify.read_text(), VERIFY_TIMEOUT)
        except subprocess.TimeoutExpired:
            results.append(
                CheckResult("verify", False, f"the verify script ran over {VERIFY_TIMEOUT:.0f} s")
            )
        else:
            results.append(verdict("verify", done.returncode, done.stdout + done.stderr))
    return results
