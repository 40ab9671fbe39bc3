"""Services and DNS as a learner meets them: names, virtual IPs, balancing, rollouts."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.node.conftest import NodeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.root]

WHOAMI = "labplatform/whoami"


def _client(node: NodeCluster) -> None:
    node.kubectl("run", "client", "--image=busybox", "--", "sleep", "3600")
    node.running_pod("client")


def _hostnames(node: NodeCluster, url: str, count: int = 30) -> list[str]:
    script = f"for i in $(seq {count}); do curl -s --max-time 2 {url} | head -1; done"
    out = node.kubectl("exec", "client", "--", "sh", "-c", script).stdout
    return [line.removeprefix("Hostname: ") for line in out.splitlines()]


def test_a_service_reaches_every_replica_by_full_and_short_name(node: NodeCluster) -> None:
    node.kubectl("create", "deployment", "web", f"--image={WHOAMI}", "--replicas=3")
    node.kubectl("expose", "deployment", "web", "--port=80")
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    _client(node)
    pods = {p["metadata"]["name"] for p in node.get("pods", "-l", "app=web")["items"]}
    for url in ("http://web.default.svc.cluster.local/", "http://web/", "http://web.default/"):
        seen = node.wait_for(
            f"all three replicas behind {url}",
            lambda url=url: (names := set(_hostnames(node, url))) == pods and names,
            timeout=30,
        )
        assert seen == pods
    # The API server's proxy subresource: how the course server opens an app in a tab.
    proxied = node.kubectl("get", "--raw", "/api/v1/namespaces/default/services/web:80/proxy/")
    assert proxied.stdout.splitlines()[0].removeprefix("Hostname: ") in pods
    first = sorted(pods)[0]
    direct = node.kubectl("get", "--raw", f"/api/v1/namespaces/default/pods/{first}/proxy/x?y=1")
    assert f"Hostname: {first}" in direct.stdout and "GET /x?y=1 " in direct.stdout
    service_ip = node.get("svc", "web")["spec"]["clusterIP"]
    resolved = node.kubectl("exec", "client", "--", "getent", "hosts", "web").stdout.split()
    assert resolved[0] == service_ip and "web.default.svc.cluster.local" in resolved


def test_headless_service_names_each_ready_pod(node: NodeCluster) -> None:
    node.kubectl("create", "deployment", "db", f"--image={WHOAMI}", "--replicas=2")
    node.kubectl("create", "service", "clusterip", "db", "--clusterip=None", "--tcp=80:80")
    node.kubectl("rollout", "status", "deploy/db", "--timeout=60s", timeout=90)
    _client(node)
    ips = {p["status"]["podIP"] for p in node.get("pods", "-l", "app=db")["items"]}

    def resolved() -> set[str] | None:
        out = node.kubectl("exec", "client", "--", "getent", "ahostsv4", "db", check=False)
        found = {line.split()[0] for line in out.stdout.splitlines()}
        return found if found == ips else None

    assert node.wait_for("both pod addresses from DNS", resolved, timeout=30) == ips


def test_pods_reach_the_api_through_the_kubernetes_service(node: NodeCluster) -> None:
    _client(node)
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"

    def read_own_pod() -> dict[str, Any]:
        out = node.kubectl(
            "exec", "client", "--", "sh", "-c",
            f'curl -s --cacert {sa}/ca.crt -H "Authorization: Bearer $(cat {sa}/token)" '
            "https://kubernetes.default.svc/api/v1/namespaces/default/pods/client",
        ).stdout  # fmt: skip
        return dict(json.loads(out))

    # The token is the pod's ServiceAccount's: authenticated, and authorized by RBAC alone.
    refused = read_own_pod()
    assert (refused["code"], refused["reason"]) == (403, "Forbidden")
    assert (
        'User "system:serviceaccount:default:default" cannot get resource "pods"'
        in (refused["message"])
    )
    node.kubectl("create", "rolebinding", "default-view", "--clusterrole=view",
                 "--serviceaccount=default:default")  # fmt: skip
    assert read_own_pod()["metadata"]["name"] == "client"
    assert (
        node.kubectl("exec", "client", "--", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST").stdout
        == "10.96.0.1\n"
    )


def test_a_service_without_endpoints_refuses_at_once(node: NodeCluster) -> None:
    node.kubectl("create", "service", "clusterip", "nobody", "--tcp=80:80")
    _client(node)

    def refused_quickly() -> bool:
        began = time.monotonic()
        result = node.kubectl(
            "exec", "client", "--", "curl", "-sS", "--max-time", "3", "http://nobody/", check=False
        )
        took = time.monotonic() - began
        # exit 7 is "Failed to connect": refused, not lost (that would be 28, a timeout)
        return result.returncode == 7 and "Failed to connect" in result.stderr and took < 2

    node.wait_for("connection refused at once", refused_quickly, timeout=30)
    # Twenty in a row, each refused at once: a reset is not rate-limited as ICMP errors are
    # (with ICMP, after the first few the client waited a second for its SYN to be retried).
    burst = node.kubectl(
        "exec", "client", "--", "sh", "-c",
        "for i in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\\n' http://nobody/; done",
        check=False,
    )  # fmt: skip
    times = [float(t) for t in burst.stdout.split()]
    assert len(times) == 20 and max(times) < 0.5, times


def test_a_rolling_update_is_seen_without_errors(node: NodeCluster) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": f"{WHOAMI}:1",
                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
                }]},
            },
        },
    }  # fmt: skip
    node.kubectl("apply", "-f", "-", stdin=json.dumps(deployment))
    node.kubectl("expose", "deployment", "web", "--port=80")
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    _client(node)
    loop = subprocess.Popen(
        [*node.kubectl_argv(), "exec", "client", "--", "sh", "-c",
         "ok=0; bad=0; for i in $(seq 100); do "
         "if curl -sf --max-time 2 http://web/ >/dev/null; then ok=$((ok+1)); "
         "else bad=$((bad+1)); fi; sleep 0.05; done; echo $ok $bad"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1)
    node.kubectl("set", "image", "deploy/web", f"web={WHOAMI}:2")
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    # Generous: each curl is a process in the sandbox, slow on a busy two-core machine.
    out, _ = loop.communicate(timeout=300)
    ok, bad = map(int, out.split())
    assert bad == 0 and ok == 100
    images = {p["spec"]["containers"][0]["image"] for p in node.live_pods("app=web")}
    assert images == {f"{WHOAMI}:2"}
