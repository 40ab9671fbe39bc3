"""The mesh checks against a real cluster running the routing lab's app, through its shell."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.checks import parse_check
from grader.context import CheckContext
from grader.results import CheckResult
from grader.runner import run_checks
from labplatform.clusters.backend import run_script
from labplatform.clusters.embedded.backend import EmbeddedBackend
from labplatform.courses.discover import load
from labplatform.courses.markdown import runnable_blocks
from labplatform.courses.model import Lab
from labplatform.sessions.grading import check_context
from labplatform.sessions.setup import prepare
from tests.helpers import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

COURSE = load(REPO / "courses" / "service-mesh")
LAB = next(lab for lab in COURSE.labs if lab.slug == "routing")
SUBSETS, CANARY_STEP = LAB.steps[0], LAB.steps[3]
CANARY = CANARY_STEP.checks[0]  # 90/10
MTLS = next(lab for lab in COURSE.labs if lab.slug == "mutual-tls")
STRICT = runnable_blocks(MTLS.steps[2].text)[0]  # the namespace's PeerAuthentication, STRICT
HALF = """kubectl apply -f - <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sa-logic}
spec:
  hosts: [sa-logic]
  http:
  - route:
    - {destination: {host: sa-logic, subset: v1}, weight: 50}
    - {destination: {host: sa-logic, subset: v2}, weight: 50}
YAML
"""


class Cluster:
    def __init__(self, backend: EmbeddedBackend, name: str, lab: Lab) -> None:
        self.backend, self.name, self.lab = backend, name, lab

    def sh(self, script: str) -> str:
        done = run_script(self.backend, self.name, script, 120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def check(self, spec: dict[str, object], settle: float = 0) -> CheckResult:
        with check_context(self.backend, self.name, self.lab.path) as context:
            (result,) = run_checks([parse_check(spec)], context, settle=settle)
        return result


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    backend = EmbeddedBackend(tmp_path_factory.mktemp("grader"), memory_mb=1536)
    name = "grader"
    try:
        backend.create(name, lambda _: None)
        prepare(backend, name, LAB, lambda _: None)
        yield Cluster(backend, name, LAB)
    finally:
        backend.delete(name)


def test_a_wrong_split_fails_and_shows_the_split_it_saw(cluster: Cluster) -> None:
    cluster.sh(SUBSETS.solution)
    cluster.sh(HALF)
    wrong = cluster.check(CANARY, settle=0)
    assert not wrong.passed
    assert wrong.observed.startswith("observed v1 ") and "of 200 requests (expected v1 90%" in (
        wrong.observed
    )
    v1 = int(wrong.observed.split("v1 ")[1].split("%")[0])
    assert 35 <= v1 <= 65, wrong.observed  # about half, as the rule says
    assert "weight 90 for v1 and 10 for v2" in wrong.hint
    cluster.sh(CANARY_STEP.solution)
    right = cluster.check(CANARY, settle=10)
    assert right.passed, right.observed


def test_workloads_and_their_sidecars(cluster: Cluster) -> None:
    meshed = cluster.check({"check": "workload", "deployment": "sa-logic-v2", "sidecar": True})
    assert meshed.passed and meshed.observed == "1 of 1 pods ready, each with a sidecar"
    cluster.sh(
        "kubectl create namespace plain && "
        "kubectl create deployment lonely -n plain --image=labplatform/sleep && "
        "kubectl rollout status -n plain deployment/lonely --timeout=120s"
    )
    bare = {"check": "workload", "deployment": "lonely", "namespace": "plain", "sidecar": True}
    result = cluster.check(bare)
    assert not result.passed and result.observed.startswith("no sidecar in lonely-")
    absent = cluster.check({"check": "workload", "deployment": "nope"})
    assert absent.observed == "no Deployment nope in namespace default"


def test_what_the_mesh_observed_metrics_stats_and_traces(cluster: Cluster) -> None:
    cluster.sh(
        "for i in 1 2 3; do kubectl exec deploy/sleep -- curl -s -X POST "
        "http://sa-web-app/sentiment -H 'content-type: application/json' "
        """-d '{"sentence": "good"}' >/dev/null; done"""
    )
    metric = cluster.check(
        {
            "check": "metric",
            "name": "istio_requests_total",
            "labels": {"destination_workload": "sa-web-app-v1", "reporter": "destination"},
            "min": 3,
        },
        settle=10,
    )
    assert metric.passed, metric.observed
    assert "matching series in mixer's metrics" in metric.observed
    stat = cluster.check(
        {
            "check": "envoy_stat",
            "deployment": "sleep",
            "stat": "envoy_cluster_upstream_rq_total",
            "labels": {"cluster_name": "outbound|80||sa-web-app.default.svc.cluster.local"},
            "min": 3,
        }
    )
    assert stat.passed, stat.observed
    trace = cluster.check(
        {"check": "trace", "services": ["sleep", "sa-web-app", "sa-logic"]}, settle=10
    )
    assert trace.passed, trace.observed
    nowhere = cluster.check({"check": "trace", "services": ["sleep", "nobody"]})
    assert not nowhere.passed and "the closest crosses" in nowhere.observed


def test_a_python_check_from_the_labs_folder(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        "def two_logic_pods(context):\n"
        "    status, out = context.shell('kubectl get pods -l app=sa-logic --no-headers', 30)\n"
        "    count = len(out.strip().splitlines())\n"
        "    return count == 2, f'{count} sa-logic pods'\n"
    )
    spec = {"check": "python", "file": "checks.py", "function": "two_logic_pods"}
    with check_context(cluster.backend, cluster.name, tmp_path) as context:
        assert isinstance(context, CheckContext)
        (result,) = run_checks([parse_check(spec)], context, settle=0)
        (missing,) = run_checks([parse_check({**spec, "function": "absent"})], context, settle=0)
    assert (result.passed, result.observed) == (True, "2 sa-logic pods")
    assert missing.observed == "checks.py has no absent()"


def test_strict_mtls_keeps_pods_ready_and_traffic_flowing(cluster: Cluster) -> None:
    """The kubelet's probes reach the apps through their agents, so STRICT breaks nothing."""
    cluster.sh(STRICT)
    mtls = cluster.check(
        {"check": "mtls", "service": "sa-logic", "port": 5000, "mode": "STRICT"}, settle=10
    )
    assert mtls.passed, mtls.observed
    assert "refused" in mtls.observed or "presents spiffe://" in mtls.observed
    time.sleep(8)  # several probe periods: an unready pod would show by now
    ready = cluster.check({"check": "workload", "deployment": "sa-logic-v1", "sidecar": True})
    assert ready.passed, ready.observed
    calls = cluster.check(
        {
            "check": "traffic",
            "from": {"deployment": "sleep"},
            "url": "http://sa-logic/healthz",
            "requests": 10,
            "expect": {"status": 200},
        }
    )
    assert calls.passed, calls.observed
