"""Envoy, backends and a client for the mesh tests: real processes on loopback; and an
embedded cluster with the mesh installed and a small app injected, for the end-to-end ones."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from labkit.envoy import envoy_command, remove_shared_memory
from mesh_runtime.agent.bootstrap import bootstrap
from tests.helpers import VENV_BIN
from tests.node.conftest import NodeCluster, new_cluster

Obj = dict[str, Any]
# reviews' v1 and v2 subsets, for the tests that apply YAML as a learner would.
SUBSETS_YAML = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
"""


class Version(BaseHTTPRequestHandler):
    """Answers with its version and the headers it got (like Istio's sample services).

    ``/flaky`` fails every other request with 503, ``/slow`` answers after a
    second, ``/broken`` fails on v1 only (for the retry, timeout and outlier
    rules); every request is counted.
    """

    version = ""
    hits: list[str]  # the paths requested, per backend
    flaky_calls = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.hits.append(self.path)
            type(self).flaky_calls += self.path == "/flaky"
            fail = self.path == "/flaky" and type(self).flaky_calls % 2 == 1
        if self.path == "/slow":
            time.sleep(1.0)
        body = json.dumps({"version": self.version, "headers": dict(self.headers)}).encode()
        broken = self.path == "/broken" and self.version == "v1"
        self.send_response(503 if fail else 500 if broken else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def backend(address: str, version: str) -> tuple[ThreadingHTTPServer, int]:
    handler = type(f"Version{version}", (Version,), {"version": version, "hits": []})
    server = ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@contextlib.contextmanager
def running_envoy(directory: Path, node_id: str, pilot: str, admin_port: int) -> Iterator[None]:
    """Envoy with pilot's ADS as its only source of configuration; stopped and cleaned after."""
    config = directory / "envoy.json"
    config.write_text(json.dumps(bootstrap(node_id, "router", pilot, admin_port)))
    base_id = directory / "envoy.base-id"
    envoy = subprocess.Popen(
        envoy_command(config, base_id),
        stdout=subprocess.DEVNULL,
        stderr=(directory / "envoy.log").open("w"),
    )
    try:
        yield
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)
        remove_shared_memory(base_id)


def get(
    port: int, host: str = "reviews", headers: dict[str, str] | None = None, path: str = "/"
) -> tuple[int, Obj | str, float]:
    """One request through the router; (status, JSON body or text, seconds)."""
    began = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        reply = conn.getresponse()
        body = reply.read().decode()
    finally:
        conn.close()
    took = time.monotonic() - began
    try:
        return reply.status, json.loads(body), took
    except json.JSONDecodeError:
        return reply.status, body, took


def versions(port: int, count: int, headers: dict[str, str] | None = None) -> list[str]:
    """What answered each of ``count`` requests: a version, or the status when it failed."""
    found = []
    for _ in range(count):
        try:
            status, body, _ = get(port, headers=headers)
        except OSError:
            found.append("unreachable")
            continue
        found.append(body["version"] if status == 200 and isinstance(body, dict) else str(status))
    return found


def until(what: str, check: Callable[[], Any], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


MESHCTL = str(VENV_BIN / "meshctl")
APP = """
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 80}]
"""
for version in ("v1", "v2"):
    APP += f"""---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: reviews-{version}}}
spec:
  selector: {{matchLabels: {{app: reviews, version: {version}}}}}
  template:
    metadata: {{labels: {{app: reviews, version: {version}}}}}
    spec: {{containers: [{{name: reviews, image: labplatform/whoami}}]}}
"""
APP += """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleep}
spec:
  selector: {matchLabels: {app: sleep}}
  template:
    metadata: {labels: {app: sleep}}
    spec: {containers: [{name: sleep, image: curlimages/curl, command: [sleep, 1d]}]}
"""


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[NodeCluster]:
    for cluster in new_cluster(tmp_path / "data", tmp_path / "cache"):
        meshctl(cluster, "install")
        cluster.kubectl("rollout", "status", "-n", "istio-system", "deploy/istiod",
                        "--timeout=60s", timeout=90)  # fmt: skip
        injected = meshctl(cluster, "kube-inject", "-f", "-", stdin=APP)
        cluster.kubectl("apply", "-f", "-", stdin=injected)
        for name in ("reviews-v1", "reviews-v2", "sleep"):
            cluster.kubectl("rollout", "status", f"deploy/{name}", "--timeout=90s", timeout=120)
        yield cluster


def meshctl(cluster: NodeCluster, *args: str, stdin: str | None = None, status: int = 0) -> str:
    result = subprocess.run(
        [MESHCTL, *args], input=stdin, capture_output=True, text=True, timeout=60,
        env={"KUBECONFIG": str(cluster.kubeconfig), "HOME": str(cluster.cache_dir),
             "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == status, result.stdout + result.stderr
    return result.stdout


def cluster_versions(cluster: NodeCluster, count: int, *headers: str) -> list[str]:
    """Which reviews version answered each of ``count`` requests from the sleep pod."""
    flags = " ".join(f"-H '{h}'" for h in headers)
    script = f"for i in $(seq {count}); do curl -s {flags} http://reviews/ | head -1; done"
    out = cluster.kubectl("exec", "deploy/sleep", "-c", "sleep", "--", "sh", "-c", script).stdout
    return [line.removeprefix("Hostname: reviews-").split("-")[0] for line in out.splitlines()]
