"""The mesh: apply-to-effect latency, the latency proxies add, and push convergence.

An embedded cluster serves as the API server; pilot runs as a process
watching it; real Envoys (as routers, listeners bound on loopback
addresses) get their configuration from pilot; two backends on loopback
play v1 and v2.

- apply to effect: from the API accepting a VirtualService change to the
  first request the new rule served.
- added latency: the same requests at a fixed 1000 requests/s (open loop,
  four keep-alive connections) straight to a backend, through one Envoy,
  and through two (the second reached as a service of the first, as a
  client sidecar hands over to a server sidecar), in one run, as ratios.
- push convergence: 100 more services appear while 10 more proxies are
  connected; the time until every proxy has ACKed them, and pilot's CPU
  time and resident memory for it.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import free_port
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.envoy import envoy_command, remove_shared_memory
from labplatform.clusters.embedded.manager import EmbeddedClusters
from mesh_runtime.agent.bootstrap import bootstrap

APPLIES = 30
RATE = 1000  # requests per second, for the added latency
SECONDS = 5
CONNECTIONS = 4
SERVICES = 100
PROXIES = 10


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


def version_of(conn: http.client.HTTPConnection, host: str = "reviews") -> str:
    conn.request("GET", "/", headers={"Host": host})
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


class Envoys:
    """Routers with pilot as their only source of configuration, each on its own address."""

    def __init__(self, work: Path, pilot: str) -> None:
        self.work, self.pilot = work, pilot
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, ip: str) -> int:
        """An Envoy whose listeners bind ``ip``; returns its admin port."""
        admin = free_port()
        node = f"router~{ip}~bench-{uuid.uuid4().hex[:6]}.default~default.svc.cluster.local"
        config = self.work / f"envoy-{ip}.json"
        config.write_text(json.dumps(bootstrap(node, "router", self.pilot, admin)))
        base_id = self.work / f"envoy-{ip}.base-id"
        process = subprocess.Popen(
            envoy_command(config, base_id, "error"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append((process, base_id))
        return admin

    def stop(self) -> None:
        for process, base_id in self.processes:
            process.terminate()
            process.wait(timeout=10)
            remove_shared_memory(base_id)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clusters = EmbeddedClusters(work / "data")
        clusters.create("mesh")
        kubeconfig = clusters.kubeconfig("mesh")
        api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        pilot: subprocess.Popen[bytes] | None = None
        socket_path = work / "pilot.sock"
        envoys = Envoys(work, f"unix:{socket_path}")
        try:
            port = free_port()
            ports = {"v1": backend("127.0.0.1", "v1"), "v2": backend("127.0.0.2", "v2")}
            core = k8s.CoreV1Api(api)
            custom = k8s.CustomObjectsApi(api)
            setup_reviews(core, custom, port, ports)
            debug_port = free_port()
            pilot = subprocess.Popen(
                [sys.executable, "-m", "mesh_runtime.pilot", "--kubeconfig", str(kubeconfig),
                 "--xds-address", f"unix:{socket_path}", "--debug-host", "127.0.0.1",
                 "--debug-port", str(debug_port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            envoys.start("127.0.0.1")  # the client's proxy
            envoys.start("127.0.0.3")  # the second hop, reached as the service "hop"
            wait_until_served(port, "reviews")
            apply_to_effect(custom, port)
            setup_second_hop(core, custom, port)
            wait_until_served(port, "hop")
            added_latency(port, ports["v1"])
            push_convergence(core, envoys, pilot.pid, debug_port, ports["v1"])
        finally:
            envoys.stop()
            if pilot is not None:
                pilot.terminate()
                pilot.wait(timeout=10)
            api.close()
            clusters.delete("mesh")


def setup_reviews(
    core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, port: int, ports: dict[str, int]
) -> None:
    """reviews v1 and v2 on the loopback backends, with their subsets."""
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "reviews"}, "spec": {"ports": [{"name": "http", "port": port}]}},
    )
    core.create_namespaced_endpoints(
        "default",
        {
            "metadata": {"name": "reviews"},
            "subsets": [
                {"addresses": [{"ip": ip}], "ports": [{"name": "http", "port": p}]}
                for ip, p in (("127.0.0.1", ports["v1"]), ("127.0.0.2", ports["v2"]))
            ],
        },
    )
    custom.create_namespaced_custom_object(
        "networking.istio.io",
        "v1",
        "default",
        "destinationrules",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "reviews"},
            "spec": {
                "host": "reviews",
                "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}},
                ],
            },
        },
    )
    for version, ip in (("v1", "127.0.0.1"), ("v2", "127.0.0.2")):
        core.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": f"reviews-{version}", "labels": {"version": version}},
                "spec": {
                    "nodeName": "elsewhere",
                    "containers": [{"name": "app", "image": "busybox"}],
                },
            },
        )
        core.patch_namespaced_pod_status(f"reviews-{version}", "default",
                                         {"status": {"podIP": ip}})  # fmt: skip


def setup_second_hop(core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, port: int) -> None:
    """``hop``: served by the Envoy on 127.0.0.3, which calls reviews in turn."""
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "hop"}, "spec": {"ports": [{"name": "http", "port": port}]}},
    )
    core.create_namespaced_endpoints(
        "default",
        {
            "metadata": {"name": "hop"},
            "subsets": [
                {"addresses": [{"ip": "127.0.0.3"}], "ports": [{"name": "http", "port": port}]}
            ],
        },
    )
    custom.create_namespaced_custom_object(
        "networking.istio.io", "v1", "default", "virtualservices",
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "hop"},
         "spec": {"hosts": ["hop"], "http": [{"rewrite": {"authority": "reviews"},
                                              "route": [{"destination": {"host": "hop"}}]}]}},
    )  # fmt: skip


def wait_until_served(port: int, host: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if version_of(http.client.HTTPConnection("127.0.0.1", port, timeout=2), host) in (
                "v1",
                "v2",
            ):
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host} was not served through Envoy in 30 s")
        time.sleep(0.1)


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


def paced(port: int, host: str) -> list[float]:
    """Latencies of RATE requests/s for SECONDS, over CONNECTIONS keep-alive connections."""
    samples: list[float] = []
    lock = threading.Lock()
    interval = CONNECTIONS / RATE
    start = time.perf_counter() + 0.1

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        mine = []
        for i in range(RATE * SECONDS // CONNECTIONS):
            due = start + (i + offset / CONNECTIONS) * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            version_of(conn, host)
            mine.append(time.perf_counter() - began)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    achieved = len(samples) / (time.perf_counter() - start)
    print(f"  {achieved:.0f} requests/s achieved")
    return samples


def added_latency(router_port: int, backend_port: int) -> None:
    results = {}
    for name, port, host in (("direct", backend_port, "reviews"),
                             ("one Envoy hop", router_port, "reviews"),
                             ("two Envoy hops", router_port, "hop")):  # fmt: skip
        print(f"{name}, {RATE} requests/s for {SECONDS} s:")
        results[name] = paced(port, host)
        print(f"  {percentiles(results[name])}")
    for name in ("one Envoy hop", "two Envoy hops"):
        ratios = []
        for q in (0.5, 0.9, 0.99):
            hop = sorted(results[name])[int(q * len(results[name]))]
            direct = sorted(results["direct"])[int(q * len(results["direct"]))]
            ratios.append(
                f"p{round(q * 100)} {hop / direct:.2f}x (+{(hop - direct) * 1000:.2f} ms)"
            )
        print(f"{name} / direct: " + ", ".join(ratios))


def pilot_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds so far, resident MB now) of the pilot process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    rss = next(
        int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )  # fmt: skip
    return ticks / os.sysconf("SC_CLK_TCK"), rss // 1024


def push_convergence(
    core: k8s.CoreV1Api, envoys: Envoys, pilot_pid: int, debug_port: int, backend_port: int
) -> None:
    admins = [envoys.start(f"127.0.1.{i + 1}") for i in range(PROXIES)]
    syncz = f"http://127.0.0.1:{debug_port}/debug/syncz"
    while len(json.loads(urllib.request.urlopen(syncz).read())) < PROXIES + 2 or not synced(syncz):
        time.sleep(0.1)
    baseline = active_clusters(admins[0])
    cpu_before, rss_before = pilot_usage(pilot_pid)
    began = time.perf_counter()
    for i in range(SERVICES):
        name = f"svc-{i:03d}"
        core.create_namespaced_service(
            "default",
            {"metadata": {"name": name}, "spec": {"ports": [{"name": "http", "port": 9080}]}},
        )
        core.create_namespaced_endpoints("default", {
            "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                         "ports": [{"name": "http", "port": backend_port}]}]})  # fmt: skip
    created = time.perf_counter()
    print(f"{SERVICES} services and endpoints created through the API in {created - began:.1f} s")

    def converged() -> bool:
        return synced(syncz) and all(
            active_clusters(admin) >= baseline + SERVICES for admin in admins
        )

    while not converged():
        time.sleep(0.02)
    done = time.perf_counter()
    cpu_after, rss_after = pilot_usage(pilot_pid)
    print(
        f"push convergence, {SERVICES} services x {PROXIES + 2} proxies: every proxy SYNCED "
        f"{(done - created) * 1000:.0f} ms after the last create ({done - began:.1f} s after "
        f"the first); pilot used {cpu_after - cpu_before:.1f} s CPU, RSS {rss_before} -> "
        f"{rss_after} MB"
    )


def synced(syncz: str) -> bool:
    statuses = json.loads(urllib.request.urlopen(syncz).read())
    return all(all(s.get(t) == "SYNCED" for t in ("CDS", "EDS", "LDS", "RDS")) for s in statuses)


def active_clusters(admin: int) -> int:
    url = f"http://127.0.0.1:{admin}/stats?filter=cluster_manager.active_clusters$"
    text = urllib.request.urlopen(url).read().decode()
    return int(text.rsplit(": ", 1)[1]) if ": " in text else 0


if __name__ == "__main__":
    main()
