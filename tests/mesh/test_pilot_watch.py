"""pilot as its own process, watching a real API server: `kubectl apply` changes real traffic.

The API server runs in process on loopback (the endpoints are backends on
loopback addresses, written as a Service without selector and its
Endpoints, as for any external workload); pilot watches it through the
Kubernetes client and serves a real Envoy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.apiserver.conftest import KUBECTL, kubectl_env, serve_in_thread
from tests.helpers import free_port
from tests.mesh.conftest import SUBSETS_YAML, backend, running_envoy, until, versions

Obj = dict[str, Any]


@dataclass
class Cluster:
    kubeconfig: Path
    home: Path
    port: int
    debug: int
    pilot: subprocess.Popen[bytes] | None
    pilot_command: list[str]
    log: Path

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [KUBECTL, *args], input=stdin, capture_output=True, text=True, timeout=30,
            env=kubectl_env(self.kubeconfig, self.home),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_pilot(self) -> None:
        self.pilot = subprocess.Popen(
            self.pilot_command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        until("pilot to be ready", lambda: _ok(f"http://127.0.0.1:{self.debug}/ready"), 20)

    def stop_pilot(self) -> None:
        assert self.pilot is not None
        self.pilot.terminate()
        self.pilot.wait(timeout=10)
        self.pilot = None

    def syncz(self) -> list[Obj]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.debug}/debug/syncz") as reply:
            return list(json.loads(reply.read()))


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    _, v1_port = backend("127.0.0.1", "v1")
    _, v2_port = backend("127.0.0.2", "v2")
    port, debug, admin = free_port(), free_port(), free_port()
    with serve_in_thread(tmp_path / "api") as kubeconfig:
        home = tmp_path / "home"
        home.mkdir()
        socket_path = tmp_path / "pilot.sock"
        live = Cluster(
            kubeconfig, home, port, debug, None,
            [sys.executable, "-m", "mesh_runtime.pilot", "--kubeconfig", str(kubeconfig),
             "--xds-address", f"unix:{socket_path}", "--debug-host", "127.0.0.1",
             "--debug-port", str(debug)],
            tmp_path / "pilot.log",
        )  # fmt: skip
        live.kubectl("create", "serviceaccount", "default")
        live.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews"},
             "spec": {"ports": [{"name": "http", "port": port}]}},
            {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "reviews"}, "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": v1_port}]},
                {"addresses": [{"ip": "127.0.0.2"}], "ports": [{"name": "http", "port": v2_port}]},
            ]},
            *[{"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"reviews-{v}", "labels": {"app": "reviews", "version": v}},
               "spec": {"containers": [{"name": "app", "image": "labplatform/whoami"}]}}
              for v in ("v1", "v2")],
        ]))  # fmt: skip
        for ip, version in (("127.0.0.1", "v1"), ("127.0.0.2", "v2")):
            live.kubectl("patch", "pod", f"reviews-{version}", "--subresource=status",
                         "--type=merge", "-p", json.dumps({"status": {"podIP": ip}}))  # fmt: skip
        live.start_pilot()
        node = f"router~127.0.0.1~gw-{uuid.uuid4().hex[:6]}.default~default.svc.cluster.local"
        try:
            with running_envoy(tmp_path, node, f"unix:{socket_path}", admin):
                until("the router to answer", lambda: set(versions(port, 20)) == {"v1", "v2"}, 20)
                yield live
        finally:
            if live.pilot is not None:
                live.stop_pilot()


RULES = (
    SUBSETS_YAML
    + """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: SUBSET}
"""
)


def test_kubectl_apply_takes_effect_and_delete_undoes_it(cluster: Cluster) -> None:
    began = time.monotonic()
    cluster.kubectl("apply", "-f", "-", stdin=RULES.replace("SUBSET", "v2"))
    until("all traffic on v2", lambda: set(versions(cluster.port, 10)) == {"v2"})
    print(f"apply to effect: {(time.monotonic() - began) * 1000:.0f} ms")
    statuses = cluster.syncz()
    assert len(statuses) == 1 and {statuses[0][t] for t in ("CDS", "EDS", "LDS", "RDS")} == {
        "SYNCED"
    }
    cluster.kubectl("delete", "virtualservice", "reviews")
    until("both versions again", lambda: set(versions(cluster.port, 30)) == {"v1", "v2"})


def test_proxies_keep_the_last_config_while_pilot_is_away_and_resync(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=RULES.replace("SUBSET", "v1"))
    until("all traffic on v1", lambda: set(versions(cluster.port, 10)) == {"v1"})
    cluster.stop_pilot()
    assert set(versions(cluster.port, 20)) == {"v1"}  # Envoy keeps serving what it had
    cluster.kubectl("apply", "-f", "-", stdin=RULES.replace("SUBSET", "v2"))
    cluster.start_pilot()  # Envoy reconnects by itself and gets the current state
    until(
        "the change made while pilot was away",
        lambda: set(versions(cluster.port, 10)) == {"v2"},
        20,
    )
