"""Resource checks against a live embedded cluster, and `labplatform course check`."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from kubernetes.dynamic import DynamicClient

from grader.checks import CheckSpecError, parse_check
from grader.context import CheckContext, local_shell
from grader.runner import run_checks
from labplatform.courses.discover import load
from labplatform.courses.scaffold import new_course
from tests.apiserver.conftest import LiveCluster
from tests.helpers import VENV_BIN

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: WEIGHT
    - destination: {host: reviews, subset: v2}
      weight: REST
"""
SPLIT = {
    "check": "resource",
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "name": "reviews",
    "fields": {"spec.http[0].route[0].weight": 80, "spec.http[0].route[1].weight": 20},
    "message": "80% of traffic goes to v1",
    "hint": "Set the weights to 80 and 20.",
}


def context_of(cluster: LiveCluster) -> CheckContext:
    return CheckContext(DynamicClient(cluster.api_client), local_shell(cluster.kubeconfig))


def test_a_field_check_reports_what_it_saw(cluster: LiveCluster) -> None:
    client = context_of(cluster)
    check = parse_check(SPLIT)
    (missing,) = run_checks([check], client, settle=0)
    assert not missing.passed
    assert missing.observed == "there is no VirtualService reviews in namespace default"
    cluster.kubectl("apply", "-f", "-", stdin=VS.replace("WEIGHT", "50").replace("REST", "50"))
    (wrong,) = run_checks([check], client, settle=0)
    assert (wrong.passed, wrong.observed) == (
        False,
        "spec.http[0].route[0].weight is 50, expected 80",
    )
    assert wrong.hint == "Set the weights to 80 and 20."
    cluster.kubectl("apply", "-f", "-", stdin=VS.replace("WEIGHT", "80").replace("REST", "20"))
    (right,) = run_checks([check], client, settle=0)
    assert right.passed and right.name == "80% of traffic goes to v1"
    assert "spec.http[0].route[0].weight = 80" in right.observed


def test_absence_and_settling(cluster: LiveCluster) -> None:
    client = context_of(cluster)
    gone = parse_check(
        {
            "check": "resource",
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "temp",
            "exists": False,
        }
    )
    assert run_checks([gone], client, settle=0)[0].passed
    cluster.kubectl("create", "configmap", "temp")
    (still,) = run_checks([gone], client, settle=0)
    assert not still.passed and still.observed == "ConfigMap temp still exists in namespace default"
    # the learner deletes it a moment after pressing Check: the check waits for that
    learner = threading.Timer(1.0, cluster.kubectl, ("delete", "configmap", "temp"))
    learner.start()
    try:
        (settled,) = run_checks([gone], client, settle=10)
    finally:
        learner.join()
    assert settled.passed and settled.seconds >= 0.9


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"check": "trafic"}, "unknown check 'trafic': the kinds are envoy_stat, metric"),
        ({"check": "traffic"}, "'expect' in a traffic check takes"),
        (
            {"check": "traffic", "url": "http://r", "expect": {"split": {"v1": 80}}},
            "expecting versions needs 'version'",
        ),
        (
            {
                "check": "traffic",
                "url": "http://r",
                "version": {"json": "v"},
                "expect": {"split": {"v1": 80, "v2": 10}},
            },
            "percentages adding up to 100",
        ),
        ({"check": "mtls", "service": "r", "mode": "loose"}, "STRICT or PERMISSIVE"),
        ({"check": "trace", "services": "a"}, "needs 'services'"),
        ({"check": "resource", "kind": "Pod", "name": "x"}, "a resource check needs 'apiVersion'"),
        (
            {"check": "resource", "apiVersion": "v1", "kind": "Pod", "name": "x", "colour": 1},
            "unknown key(s) colour",
        ),
    ],
)
def test_badly_written_checks_are_refused(spec: dict, message: str) -> None:
    with pytest.raises(CheckSpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_check(spec)


def test_lint_reports_a_bad_check(tmp_path: Path) -> None:
    folder = new_course(tmp_path, "mesh")
    step = folder / "first-lab" / "02-create-a-namespace.md"
    step.write_text(step.read_text().replace("check: resource", "check: resources"))
    messages = [p.message for p in load(folder).problems]
    assert messages == [
        "check 1: unknown check 'resources': the kinds are envoy_stat, metric, mtls, python, "
        "resource, trace, traffic, workload"
    ]


def test_course_check_fails_before_the_solution_and_passes_after(
    cluster: LiveCluster, tmp_path: Path
) -> None:
    folder = new_course(tmp_path, "mesh")
    argv = [
        str(VENV_BIN / "labplatform"),
        "course",
        "check",
        str(folder),
        "first-lab",
        "02-create-a-namespace",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--settle",
        "0",
    ]
    before = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=os.environ)
    assert before.returncode == 1
    assert before.stdout.splitlines() == [
        "[FAIL] A namespace called demo exists: there is no Namespace demo",
        "       hint: `kubectl create namespace demo` creates it.",
    ]
    cluster.kubectl("create", "namespace", "demo")  # the step's solution
    after = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=os.environ)
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.strip() == "[PASS] A namespace called demo exists: Namespace demo"
