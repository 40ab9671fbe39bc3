"""pilot against a real Envoy: Istio's traffic rules, served over gRPC ADS, change real traffic.

Two backends play ``reviews`` v1 and v2 on loopback addresses; Envoy runs
as a router (listeners bound, no capture) with pilot's ADS on a unix socket.
Each test changes the model as the Kubernetes watches will, pushes, and
measures what a client sees.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mesh_runtime.pilot import ads
from mesh_runtime.pilot.model import MeshModel
from mesh_runtime.pilot.snapshot import build_snapshot
from tests.helpers import free_port
from tests.mesh.conftest import backend, get, running_envoy, until, versions

Obj = dict[str, Any]


@dataclass
class Mesh:
    model: MeshModel
    server: ads.AdsServer
    loop: asyncio.AbstractEventLoop
    port: int  # the service port, which the router listens on
    admin: int
    backends: dict[str, ThreadingHTTPServer]

    def change(self, *rules: Obj) -> None:
        def apply() -> None:
            for rule in rules:
                self.model.set_rule(rule)
            self.server.push()

        self.loop.call_soon_threadsafe(apply)

    def remove(self, kind: str, name: str) -> None:
        def apply() -> None:
            self.model.delete_rule(kind, "default", name)
            self.server.push()

        self.loop.call_soon_threadsafe(apply)

    def backend_port(self, version: str) -> int:
        return int(self.backends[version].server_address[1])

    def get(
        self, headers: dict[str, str] | None = None, path: str = "/"
    ) -> tuple[int, Obj | str, float]:
        return get(self.port, headers=headers, path=path)

    def hits(self, version: str) -> list[str]:
        return list(self.backends[version].RequestHandlerClass.hits)  # type: ignore[attr-defined]

    def stat(self, name: str) -> int:
        """The sum of Envoy's counters whose name contains ``name``."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats?filter={name}") as r:
            return sum(int(line.rsplit(": ", 1)[1]) for line in r.read().decode().splitlines()
                       if line.strip())  # fmt: skip

    def versions(self, count: int, headers: dict[str, str] | None = None) -> list[str]:
        return versions(self.port, count, headers)

    def until(self, what: str, check: Any, timeout: float = 10) -> None:
        until(what, check, timeout)


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    v1, v1_port = backend("127.0.0.1", "v1")
    v2, v2_port = backend("127.0.0.2", "v2")
    port, admin = free_port(), free_port()
    model = MeshModel()
    model.set_service(
        {
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {"clusterIP": "", "ports": [{"name": "http", "port": port}]},
        }
    )
    model.set_endpoints({"metadata": {"name": "reviews", "namespace": "default"}, "subsets": [
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": v1_port}]},
        {"addresses": [{"ip": "127.0.0.2"}], "ports": [{"name": "http", "port": v2_port}]},
    ]})  # fmt: skip
    for ip, version in (("127.0.0.1", "v1"), ("127.0.0.2", "v2")):
        model.set_pod({"metadata": {"name": f"reviews-{version}", "namespace": "default",
                                    "labels": {"app": "reviews", "version": version}},
                       "status": {"podIP": ip}})  # fmt: skip
    server = ads.AdsServer(lambda proxy: build_snapshot(model, proxy))
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    socket_path = tmp_path / "pilot.sock"
    grpc_server = asyncio.run_coroutine_threadsafe(
        ads.serve(server, f"unix:{socket_path}"), loop
    ).result(10)
    node = f"router~127.0.0.1~router-{uuid.uuid4().hex[:6]}.default~default.svc.cluster.local"
    live = Mesh(model, server, loop, port, admin, {"v1": v1, "v2": v2})
    try:
        with running_envoy(tmp_path, node, f"unix:{socket_path}", admin):
            live.until("Envoy to serve the listener", lambda: _answers(live), timeout=20)
            yield live
    finally:
        asyncio.run_coroutine_threadsafe(grpc_server.stop(0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        v1.shutdown()
        v2.shutdown()


def _answers(mesh: Mesh) -> bool:
    try:
        return mesh.get()[0] == 200
    except OSError:
        return False


SUBSETS = {
    "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
    "metadata": {"name": "reviews", "namespace": "default"},
    "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                            {"name": "v2", "labels": {"version": "v2"}}]},
}  # fmt: skip


def virtual_service(*http: Obj) -> Obj:
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": "default"},
        "spec": {"hosts": ["reviews"], "http": list(http)},
    }  # fmt: skip


def to(subset: str, weight: int | None = None) -> Obj:
    destination: Obj = {"destination": {"host": "reviews", "subset": subset}}
    return destination if weight is None else {**destination, "weight": weight}


def within_binomial(count: int, total: int, p: float, z: float = 2.576) -> bool:
    """``count`` of ``total`` is within the 99% normal interval of Binomial(total, p)."""
    sigma = math.sqrt(total * p * (1 - p))
    return abs(count - total * p) <= z * sigma


def test_without_rules_both_versions_answer(mesh: Mesh) -> None:
    assert set(mesh.versions(40)) == {"v1", "v2"}


def test_all_to_v1_then_a_header_sends_one_user_to_v2(mesh: Mesh) -> None:
    mesh.change(SUBSETS, virtual_service({"route": [to("v1")]}))
    mesh.until("all traffic on v1", lambda: set(mesh.versions(20)) == {"v1"})
    mesh.change(virtual_service(
        {"match": [{"headers": {"end-user": {"exact": "jason"}}}], "route": [to("v2")]},
        {"route": [to("v1")]},
    ))  # fmt: skip
    mesh.until("jason on v2", lambda: set(mesh.versions(10, {"end-user": "jason"})) == {"v2"})
    assert set(mesh.versions(30)) == {"v1"}
    assert set(mesh.versions(10, {"end-user": "someone"})) == {"v1"}


@pytest.mark.parametrize("v2_share", [50, 20])
def test_weighted_split_is_binomially_right(mesh: Mesh, v2_share: int) -> None:
    mesh.change(SUBSETS, virtual_service({"route": [to("v1", 100 - v2_share), to("v2", v2_share)]}))
    mesh.until("both subsets in rotation", lambda: "v2" in mesh.versions(20))
    versions = mesh.versions(400)
    assert set(versions) == {"v1", "v2"}
    assert within_binomial(versions.count("v2"), 400, v2_share / 100), versions.count("v2")


def test_fault_delay_and_abort(mesh: Mesh) -> None:
    mesh.change(SUBSETS, virtual_service({
        "fault": {"delay": {"fixedDelay": "0.5s", "percentage": {"value": 100}}},
        "route": [to("v1")],
    }))  # fmt: skip
    mesh.until("the delay", lambda: mesh.get()[2] > 0.4)
    took = [mesh.get()[2] for _ in range(5)]
    assert all(0.45 <= t <= 0.6 for t in took), took  # 0.5 s within 10% (plus the call)
    mesh.change(virtual_service({
        "fault": {"abort": {"httpStatus": 418, "percentage": {"value": 50}}},
        "route": [to("v1")],
    }))  # fmt: skip
    mesh.until("the abort", lambda: "418" in mesh.versions(10))
    outcomes = mesh.versions(400)
    assert set(outcomes) == {"v1", "418"}
    assert within_binomial(outcomes.count("418"), 400, 0.5)


def test_a_rejected_rule_leaves_the_last_good_one_serving(mesh: Mesh) -> None:
    mesh.change(SUBSETS, virtual_service({"route": [to("v2")]}))
    mesh.until("all traffic on v2", lambda: set(mesh.versions(10)) == {"v2"})
    broken = {"match": [{"uri": {"regex": "(unclosed"}}], "route": [to("v1")]}
    mesh.change(virtual_service(broken, {"route": [to("v1")]}))

    def nacked() -> bool:
        statuses = [s.status() for s in list(mesh.server.streams.values())]
        return any(str(s.get("RDS", "")).startswith("NACK") for s in statuses)

    mesh.until("Envoy to reject the routes", nacked)
    assert set(mesh.versions(20)) == {"v2"}  # the previous routes keep serving


def test_consistent_hashing_keeps_each_user_on_one_version(mesh: Mesh) -> None:
    sticky = {**SUBSETS, "spec": {"host": "reviews", "trafficPolicy": {
        "loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}}}}  # fmt: skip
    mesh.change(sticky)
    mesh.until("a sticky user", lambda: len(set(mesh.versions(10, {"x-user": "probe"}))) == 1)
    seen = {user: set(mesh.versions(8, {"x-user": user})) for user in map(str, range(20))}
    assert all(len(versions) == 1 for versions in seen.values()), seen
    assert set().union(*seen.values()) == {"v1", "v2"}  # users spread over both


def test_retries_recover_a_failing_attempt_and_timeouts_cut_slow_ones(mesh: Mesh) -> None:
    mesh.change(SUBSETS, virtual_service({"route": [to("v1")], "retries": {"attempts": 0}}))
    mesh.until("no retries", lambda: "503" in [str(mesh.get(path="/flaky")[0]) for _ in range(4)])
    mesh.change(virtual_service({"route": [to("v1")],
                                 "retries": {"attempts": 2, "retryOn": "5xx"}}))  # fmt: skip
    mesh.until("retries", lambda: all(mesh.get(path="/flaky")[0] == 200 for _ in range(6)))
    assert all(mesh.get(path="/flaky")[0] == 200 for _ in range(20))
    cut = {"attempts": 2, "perTryTimeout": "200ms"}  # Go-style, as Istio's docs write them
    mesh.change(virtual_service({"route": [to("v1")], "timeout": "3s", "retries": cut}))
    mesh.until("per-try timeouts", lambda: mesh.get(path="/slow")[2] < 0.9)
    status, _, took = mesh.get(path="/slow")
    assert status == 504 and took < 0.9  # three tries of 0.2 s, not a second


def test_mirroring_copies_requests_without_changing_replies(mesh: Mesh) -> None:
    mirrored = {"route": [to("v1")], "mirror": {"host": "reviews", "subset": "v2"}}
    mesh.change(SUBSETS, virtual_service(mirrored))
    mesh.until("the mirror", lambda: mesh.get(path="/probe") and "/probe" in mesh.hits("v2"))
    before = mesh.hits("v2").count("/copied")
    # Envoy's copies are fire-and-forget: one still in flight when its original finishes
    # can be cancelled (more so when the client hangs up, or the machine is busy), so the
    # test keeps one connection open and asks that copies arrive, not every one.
    conn = http.client.HTTPConnection("127.0.0.1", mesh.port, timeout=10)
    replied = set()
    for _ in range(20):
        conn.request("GET", "/copied", headers={"Host": "reviews"})
        replied.add(json.loads(conn.getresponse().read())["version"])
        time.sleep(0.02)
    assert replied == {"v1"}  # the replies are the route's, not the mirror's
    mesh.until("copies on v2", lambda: mesh.hits("v2").count("/copied") - before >= 10)
    conn.close()


def test_circuit_breaking_overflows_and_outlier_detection_ejects(mesh: Mesh) -> None:
    mesh.change({**SUBSETS, "spec": {**SUBSETS["spec"], "trafficPolicy": {
        "connectionPool": {"tcp": {"maxConnections": 1},
                           "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}},
        "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s",
                             "baseEjectionTime": "30s", "maxEjectionPercent": 100},
    }}}, virtual_service({"route": [to("v1")], "retries": {"attempts": 0}}))  # fmt: skip
    statuses: list[int] = []
    mesh.until(
        "a pending-request overflow",
        lambda: _burst(mesh, statuses) and mesh.stat("upstream_rq_pending_overflow") > 0,
        timeout=20,
    )
    assert 503 in statuses  # what the overflowing client saw
    mesh.change(virtual_service({"route": [{"destination": {"host": "reviews"}}],
                                 "retries": {"attempts": 0}}))  # fmt: skip
    mesh.until("v1 ejected after its failure", lambda: _ejected(mesh), timeout=20)
    assert {str(mesh.get(path="/broken")[0]) for _ in range(10)} == {"200"}


def _burst(mesh: Mesh, statuses: list[int]) -> bool:
    """Three slow requests at once through a pool of one connection and one pending slot."""
    threads = [threading.Thread(target=lambda: statuses.append(mesh.get(path="/slow")[0]))
               for _ in range(3)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return True


def _ejected(mesh: Mesh) -> bool:
    return {mesh.get(path="/broken")[0] for _ in range(6)} == {200}


def test_cors_preflights_are_answered_by_the_proxy_for_allowed_origins(mesh: Mesh) -> None:
    cors = {"allowOrigins": [{"exact": "https://shop.example"}], "allowMethods": ["GET", "POST"],
            "allowHeaders": ["x-user"], "maxAge": "24h"}  # fmt: skip
    mesh.change(SUBSETS, virtual_service({"route": [to("v1")], "corsPolicy": cors}))

    def preflight(origin: str) -> dict[str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", mesh.port, timeout=10)
        conn.request("OPTIONS", "/", headers={"Host": "reviews", "Origin": origin,
                                              "Access-Control-Request-Method": "POST"})  # fmt: skip
        reply = conn.getresponse()
        reply.read()
        conn.close()
        return {k.lower(): v for k, v in reply.getheaders()}

    mesh.until("the CORS policy", lambda: "access-control-allow-origin" in preflight(
        "https://shop.example"))  # fmt: skip
    allowed = preflight("https://shop.example")
    assert allowed["access-control-allow-origin"] == "https://shop.example"
    assert allowed["access-control-allow-methods"] == "GET,POST"
    assert allowed["access-control-max-age"] == "86400"
    assert "access-control-allow-origin" not in preflight("https://evil.example")


def test_source_labels_scope_a_rule_to_the_calling_workload(mesh: Mesh) -> None:
    # The router stands at reviews v1's address, so pilot sees it as that pod: version v1.
    def only_for(version: str) -> Obj:
        return {"match": [{"sourceLabels": {"version": version}}], "route": [to("v2")]}

    mesh.change(SUBSETS, virtual_service(only_for("v2"), {"route": [to("v1")]}))
    mesh.until("the rule for other callers to be skipped", lambda: set(mesh.versions(10)) == {"v1"})
    mesh.change(virtual_service(only_for("v1"), {"route": [to("v1")]}))
    mesh.until("the rule for this caller", lambda: set(mesh.versions(10)) == {"v2"})


def service_entry(resolution: str, address: str, port: int) -> Obj:
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": "legacy", "namespace": "default"},
        "spec": {"hosts": ["legacy.example.com"], "location": "MESH_EXTERNAL",
                 "resolution": resolution, "ports": [{"number": 0, "name": "http",
                                                      "protocol": "HTTP"}],
                 "endpoints": [{"address": address, "ports": {"http": port}}]},
    }  # fmt: skip


def test_service_entries_route_and_a_sidecar_narrows_what_a_proxy_sees(mesh: Mesh) -> None:
    def legacy() -> str:
        status, body, _ = get(mesh.port, host="legacy.example.com")
        return body["version"] if status == 200 and isinstance(body, dict) else str(status)

    static = service_entry("STATIC", "127.0.0.2", mesh.backend_port("v2"))
    static["spec"]["ports"][0]["number"] = mesh.port
    mesh.change(static)
    mesh.until("the STATIC entry to answer", lambda: legacy() == "v2")
    dns = service_entry("DNS", "localhost", mesh.backend_port("v1"))
    dns["spec"]["ports"][0]["number"] = mesh.port
    mesh.change(dns)
    mesh.until("the DNS entry, resolved by Envoy, to answer", lambda: legacy() == "v1")
    abort = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": "legacy", "namespace": "default"},
             "spec": {"hosts": ["legacy.example.com"], "http": [{
                 "fault": {"abort": {"httpStatus": 418, "percentage": {"value": 100}}},
                 "route": [{"destination": {"host": "legacy.example.com"}}]}]}}  # fmt: skip
    mesh.change(abort)
    mesh.until("rules to apply to the entry's host", lambda: legacy() == "418")

    sidecar = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
               "metadata": {"name": "default", "namespace": "default"},
               "spec": {"egress": [{"hosts": ["./legacy.example.com"]}]}}  # fmt: skip
    mesh.change(sidecar)
    mesh.until("reviews to drop out of this proxy's view", lambda: mesh.get()[0] == 404)
    assert legacy() == "418"  # what the Sidecar names stays
    mesh.remove("Sidecar", "default")
    mesh.until("reviews back", lambda: mesh.get()[0] == 200)
    mesh.remove("ServiceEntry", "legacy")
    mesh.until("the entry gone", lambda: legacy() == "404")


def test_tcp_routes_send_opaque_connections_by_weight(mesh: Mesh) -> None:
    port = free_port()

    def setup() -> None:
        mesh.model.set_service(
            {
                "metadata": {"name": "ratings-db", "namespace": "default"},
                "spec": {"clusterIP": "", "ports": [{"name": "tcp", "port": port}]},
            }
        )
        mesh.model.set_endpoints(
            {
                "metadata": {"name": "ratings-db", "namespace": "default"},
                "subsets": [
                    {
                        "addresses": [{"ip": "127.0.0.1"}],
                        "ports": [{"name": "tcp", "port": mesh.backend_port("v1")}],
                    },
                    {
                        "addresses": [{"ip": "127.0.0.2"}],
                        "ports": [{"name": "tcp", "port": mesh.backend_port("v2")}],
                    },
                ],
            }
        )
        mesh.server.push()

    mesh.loop.call_soon_threadsafe(setup)
    mesh.change({**SUBSETS, "metadata": {"name": "ratings-db", "namespace": "default"},
                 "spec": {**SUBSETS["spec"], "host": "ratings-db"}})  # fmt: skip

    def answers() -> list[str]:  # HTTP spoken through a TCP proxy, to tell backends apart
        return versions(port, 10)

    mesh.until("the TCP listener, to both versions", lambda: set(answers()) == {"v1", "v2"})
    route = {
        "route": [
            {"destination": {"host": "ratings-db", "subset": "v2"}, "weight": 100},
            {"destination": {"host": "ratings-db", "subset": "v1"}, "weight": 0},
        ]
    }
    mesh.change({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                 "metadata": {"name": "ratings-db", "namespace": "default"},
                 "spec": {"hosts": ["ratings-db"], "tcp": [route]}})  # fmt: skip
    mesh.until("every connection on v2", lambda: set(answers()) == {"v2"})
