"""Telemetry in an embedded cluster: every proxy reports to mixer, which counts as Istio does.

Real sidecars stream their access logs to the real mixer over gRPC; the test
reads mixer's Prometheus metrics and service graph through the API
server's service proxy, as `kubectl get --raw` would.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import free_port, wait_for_http
from tests.mesh.conftest import cluster_versions, meshctl
from tests.node.conftest import NodeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.root]

MIXER = "/api/v1/namespaces/istio-system/services/istio-mixer:42422/proxy"
REVIEWS = "reviews.default.svc.cluster.local"


def requests_to_reviews(cluster: NodeCluster, metric: str = "istio_requests_total") -> Counter[
    tuple[str, ...]
]:  # fmt: skip
    """Requests to reviews by (reporter, source, destination version, code, security)."""
    text = cluster.kubectl("get", "--raw", f"{MIXER}/metrics").stdout
    counts: Counter[tuple[str, ...]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name != metric or labels.get("destination_service") != REVIEWS:
                continue
            key = (labels["reporter"], labels["source_workload"], labels["destination_version"],
                   labels["response_code"], labels["connection_security_policy"])  # fmt: skip
            counts[key] += int(sample.value)
    return counts


def test_every_request_is_counted_once_per_reporter_with_istios_labels(mesh: NodeCluster) -> None:
    before = requests_to_reviews(mesh)
    answered = Counter(cluster_versions(mesh, 20))
    assert sum(answered.values()) == 20 and set(answered) <= {"v1", "v2"}

    def counted() -> Counter[tuple[str, ...]]:
        return requests_to_reviews(mesh) - before

    mesh.wait_for("all reports in", lambda: sum(counted().values()) >= 40, timeout=30)
    seen = counted()
    for version, count in answered.items():
        assert seen[("source", "sleep", version, "200", "unknown")] == count
        assert seen[("destination", "sleep", version, "200", "mutual_tls")] == count
    assert sum(seen.values()) == 40  # exactly N per reporter, nothing else
    durations = requests_to_reviews(mesh, "istio_request_duration_milliseconds_count")
    assert sum((durations - requests_to_reviews(mesh, "never")).values()) >= 40

    graph = json.loads(mesh.kubectl("get", "--raw", f"{MIXER}/graph").stdout)
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    for version in answered:
        edge = edges[("default/sleep", f"default/reviews-{version}")]
        assert edge["service"] == REVIEWS and edge["mtls"] and edge["error_rate"] == 0
        assert edge["requests"] == answered[version]
    assert {"default/sleep", "default/reviews-v1"} <= {n["id"] for n in graph["nodes"]}
    top = {line.split()[0]: line.split() for line in meshctl(mesh, "top").splitlines()[1:]}
    assert top["default/reviews-v1"][1:2] == ["100.00%"] and top["default/reviews-v1"][5] == "100%"

    # With its workloads stopped, the calls to reviews fail, and the graph shows it.
    for version in ("v1", "v2"):
        mesh.kubectl("scale", f"deploy/reviews-{version}", "--replicas=0")
    mesh.wait_for("reviews down", lambda: not mesh.live_pods("app=reviews"))

    def failing_edge() -> bool:
        # Calls keep coming, as a user's would: the first may still reach a pod on its way out
        # before the sidecar hears that reviews has no endpoints left.
        cluster_versions(mesh, 2)
        edges = json.loads(mesh.kubectl("get", "--raw", f"{MIXER}/graph").stdout)["edges"]
        return any(e["source"] == "default/sleep" and e["service"] == REVIEWS
                   and e["error_rate"] == 1 for e in edges)  # fmt: skip

    mesh.wait_for("the failing edge", failing_edge, timeout=30)


def test_traffic_flows_while_mixer_is_away_and_reports_resume(mesh: NodeCluster) -> None:
    mesh.kubectl("scale", "-n", "istio-system", "deploy/istio-mixer", "--replicas=0")
    mesh.wait_for("mixer gone", lambda: not mesh.get("pods", "-n", "istio-system", "-l",
                                                      "app=istio-mixer")["items"])  # fmt: skip
    assert len(cluster_versions(mesh, 10)) == 10  # telemetry fails open
    mesh.kubectl("scale", "-n", "istio-system", "deploy/istio-mixer", "--replicas=1")
    mesh.kubectl("rollout", "status", "-n", "istio-system", "deploy/istio-mixer",
                 "--timeout=60s", timeout=90)  # fmt: skip
    before = requests_to_reviews(mesh)
    assert len(cluster_versions(mesh, 5)) == 5

    def reported() -> int:
        return sum((requests_to_reviews(mesh) - before).values())

    mesh.wait_for("reports from the reconnected proxies", lambda: reported() == 10, timeout=30)


def rule(name: str, body: str) -> str:
    return (f"apiVersion: mixer.labplatform.io/v1\nkind: PolicyRule\nmetadata: {{name: {name}}}\n"
            f"spec:\n  selector: {{matchLabels: {{app: reviews}}}}\n{body}")  # fmt: skip


def statuses(cluster: NodeCluster, count: int) -> list[str]:
    script = (f"for i in $(seq {count}); do curl -s -o /tmp/body -w '%{{http_code}} ' "
              "http://reviews/; head -c 40 /tmp/body | head -1; echo; done")  # fmt: skip
    out = cluster.kubectl("exec", "deploy/sleep", "-c", "sleep", "--", "sh", "-c", script).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def guarded_everywhere(cluster: NodeCluster) -> bool:
    """Every reviews proxy has acknowledged a config with the policy check in it."""
    pods = [p["metadata"]["name"] for p in cluster.live_pods("app=reviews")]
    listeners = [meshctl(cluster, "proxy-config", "listener", pod, "-o", "json") for pod in pods]
    served = all("envoy.filters.http.ext_authz" in listener for listener in listeners)
    status = meshctl(cluster, "proxy-status").splitlines()[1:]
    return served and all(line.split()[1:] == ["SYNCED"] * 4 for line in status)


def test_policy_rules_deny_and_limit_and_follow_their_fail_mode(mesh: NodeCluster) -> None:
    deny = rule("deny-sleep", "  match: {sourceLabels: {app: sleep}}\n"
                "  deny: {status: 403, message: Not allowed}\n")  # fmt: skip
    # Each reviews pod's proxy is pushed on its own: wait until every call sees the change.
    mesh.kubectl("apply", "-f", "-", stdin=deny)
    mesh.wait_for("the deny rule", lambda: statuses(mesh, 8) == ["403 Not allowed"] * 8)
    mesh.kubectl("delete", "policyrule", "deny-sleep")
    mesh.wait_for("traffic restored", lambda: all(s.startswith("200") for s in statuses(mesh, 8)))

    quota = rule("two-per-five", "  quota: {max: 2, window: 5s, by: [source.workload]}\n")
    mesh.kubectl("apply", "-f", "-", stdin=quota)
    mesh.wait_for("the quota on every pod", lambda: guarded_everywhere(mesh), timeout=30)
    time.sleep(5.5)  # a fresh window
    codes = [s.split()[0] for s in statuses(mesh, 5)]
    assert codes == ["200", "200", "429", "429", "429"], codes

    # mixer away: a fail-open rule set lets traffic through, a fail-closed one refuses it.
    mesh.kubectl("scale", "-n", "istio-system", "deploy/istio-mixer", "--replicas=0")
    mesh.wait_for("mixer gone", lambda: not mesh.get("pods", "-n", "istio-system", "-l",
                                                      "app=istio-mixer")["items"])  # fmt: skip
    mesh.wait_for("fail open", lambda: statuses(mesh, 1)[0].startswith("200"))
    closed = quota.replace("by: [source.workload]}", "by: [source.workload]}\n  failOpen: false")
    mesh.kubectl("apply", "-f", "-", stdin=closed)
    mesh.wait_for("fail closed", lambda: statuses(mesh, 1)[0].startswith("403"))


def test_a_real_prometheus_scraping_mixer_answers_istios_queries(
    mesh: NodeCluster, tmp_path: Path
) -> None:
    mixer_port, prometheus_port = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(
        "scrape_configs:\n- job_name: mixer\n  scrape_interval: 1s\n"
        f"  static_configs: [{{targets: ['127.0.0.1:{mixer_port}']}}]\n"
    )
    forward = subprocess.Popen(
        [*mesh.kubectl_argv(), "port-forward", "-n", "istio-system", "svc/istio-mixer",
         f"{mixer_port}:42422"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{prometheus_port}/-/ready", timeout=60)
        answered = len(cluster_versions(mesh, 20))

        def query(promql: str) -> dict[str, float]:
            reply = httpx.get(f"http://127.0.0.1:{prometheus_port}/api/v1/query",
                              params={"query": promql}, timeout=10).json()  # fmt: skip
            return {r["metric"].get("destination_service", ""): float(r["value"][1])
                    for r in reply["data"]["result"]}  # fmt: skip

        total = 'sum(istio_requests_total{reporter="destination"}) by (destination_service)'
        mesh.wait_for("Prometheus to have scraped the requests",
                      lambda: query(total).get(REVIEWS) == answered, timeout=40)  # fmt: skip
        answered += len(cluster_versions(mesh, 10))  # a rate needs the counter to move
        mesh.wait_for("the next scrapes", lambda: query(total).get(REVIEWS) == answered,
                      timeout=40)  # fmt: skip
        rates = query("sum(rate(istio_requests_total[1m])) by (destination_service)")
        assert rates.get(REVIEWS, 0) > 0
    finally:
        for process in (prometheus, forward):
            process.terminate()
            process.wait(timeout=20)
