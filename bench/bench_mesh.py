"""The mesh: apply-to-effect latency of a VirtualService, and the latency Envoy adds.

An embedded cluster serves as the API server; pilot runs as a process
watching it; a real Envoy (as a router, listeners bound on loopback) gets
its configuration from pilot; two backends on loopback play v1 and v2.
apply-to-effect is from the API accepting the change to the first request
the new rule served; added latency compares keep-alive requests through
Envoy with the same requests straight to a backend.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.envoy import envoy_command, remove_shared_memory
from labplatform.clusters.embedded.manager import EmbeddedClusters
from mesh_runtime.agent.bootstrap import bootstrap

APPLIES = 30
REQUESTS = 2000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backend(address: str, version: str) -> int:
    body = json.dumps({"version": version}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to every reply

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.server_address[1])


def version_of(conn: http.client.HTTPConnection) -> str:
    conn.request("GET", "/", headers={"Host": "reviews"})
    reply = conn.getresponse()
    return str(json.loads(reply.read()).get("version", reply.status))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 for q in (0.5, 0.9, 0.99)]
    return "p50 {:.2f} ms, p90 {:.2f} ms, p99 {:.2f} ms".format(*pick)


def virtual_service(subset: str) -> dict[str, object]:
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": "default"},
        "spec": {"hosts": ["reviews"],
                 "http": [{"route": [{"destination": {"host": "reviews", "subset": subset}}]}]},
    }  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clusters = EmbeddedClusters(work / "data")
        clusters.create("mesh")
        kubeconfig = clusters.kubeconfig("mesh")
        api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        pilot: subprocess.Popen[bytes] | None = None
        envoy: subprocess.Popen[bytes] | None = None
        try:
            port, admin = free_port(), free_port()
            ports = {"v1": backend("127.0.0.1", "v1"), "v2": backend("127.0.0.2", "v2")}
            core = k8s.CoreV1Api(api)
            core.create_namespaced_service("default", {
                "metadata": {"name": "reviews"},
                "spec": {"ports": [{"name": "http", "port": port}]}})  # fmt: skip
            core.create_namespaced_endpoints("default", {
                "metadata": {"name": "reviews"},
                "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "http", "port": p}]}
                            for ip, p in (("127.0.0.1", ports["v1"]), ("127.0.0.2", ports["v2"]))],
            })  # fmt: skip
            custom = k8s.CustomObjectsApi(api)
            custom.create_namespaced_custom_object(
                "networking.istio.io", "v1", "default", "destinationrules",
                {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                 "metadata": {"name": "reviews"},
                 "spec": {"host": "reviews", "subsets": [
                     {"name": "v1", "labels": {"version": "v1"}},
                     {"name": "v2", "labels": {"version": "v2"}}]}},
            )  # fmt: skip
            for version, ip in (("v1", "127.0.0.1"), ("v2", "127.0.0.2")):
                core.create_namespaced_pod("default", {
                    "metadata": {"name": f"reviews-{version}", "labels": {"version": version}},
                    "spec": {"nodeName": "elsewhere",
                             "containers": [{"name": "app", "image": "busybox"}]}})  # fmt: skip
                core.patch_namespaced_pod_status(
                    f"reviews-{version}", "default", {"status": {"podIP": ip}}
                )
            socket_path = work / "pilot.sock"
            pilot = subprocess.Popen(
                [sys.executable, "-m", "mesh_runtime.pilot", "--kubeconfig", str(kubeconfig),
                 "--xds-address", f"unix:{socket_path}", "--debug-host", "127.0.0.1",
                 "--debug-port", str(free_port())],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            node = (
                f"router~127.0.0.1~bench-{uuid.uuid4().hex[:6]}.default~default.svc.cluster.local"
            )
            config = work / "envoy.json"
            config.write_text(json.dumps(bootstrap(node, "router", f"unix:{socket_path}", admin)))
            envoy = subprocess.Popen(
                envoy_command(config, work / "envoy.base-id", "error"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 30
            while True:
                try:
                    version_of(http.client.HTTPConnection("127.0.0.1", port, timeout=2))
                    break
                except (OSError, ValueError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            apply_to_effect(custom, port)
            added_latency(port, ports["v1"])
        finally:
            for process in (envoy, pilot):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=10)
            remove_shared_memory(work / "envoy.base-id")
            api.close()
            clusters.delete("mesh")


def apply_to_effect(custom: k8s.CustomObjectsApi, port: int) -> None:
    """Each change flips all traffic between v1 and v2, from a state where the last one
    held, so the first reply from the new subset is the new rule at work."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    custom.create_namespaced_custom_object(
        "networking.istio.io", "v1", "default", "virtualservices", virtual_service("v1")
    )
    while [version_of(conn) for _ in range(20)] != ["v1"] * 20:
        time.sleep(0.05)
    samples = []
    for i in range(APPLIES):
        subset = "v2" if i % 2 == 0 else "v1"
        began = time.perf_counter()
        custom.patch_namespaced_custom_object(
            "networking.istio.io", "v1", "default", "virtualservices", "reviews",
            virtual_service(subset),
        )  # fmt: skip
        while version_of(conn) != subset:
            pass
        samples.append(time.perf_counter() - began)
    print(f"apply to effect ({APPLIES} changes, pilot debounces 100 ms): {percentiles(samples)}")


def added_latency(router_port: int, backend_port: int) -> None:
    results = {}
    for name, port in (("direct", backend_port), ("through Envoy", router_port)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        samples = []
        for _ in range(REQUESTS):
            began = time.perf_counter()
            version_of(conn)
            samples.append(time.perf_counter() - began)
        results[name] = samples
        print(f"{name}, {REQUESTS} keep-alive requests: {percentiles(samples)}")
    ratio = statistics.median(results["through Envoy"]) / statistics.median(results["direct"])
    print(f"one proxy hop / direct, p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()
