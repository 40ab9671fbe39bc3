"""Telemetry's cost: latency and proxy CPU with reports and traces on against off, and how many
reports mixer ingests per second.

- One Envoy in front of a backend on loopback, at a fixed 1000 requests/s,
  once plain and once with what pilot adds when mixer runs (the gRPC access
  log and Zipkin tracing at 100% sampling, to a real mixer in this process).
- Ingest: a gRPC stream of access log entries, as Envoy sends them, as fast
  as mixer takes them.
"""

from __future__ import annotations

import asyncio
import copy
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import uvicorn
from bench_mesh import backend, free_port, paced, percentiles
from bench_security import envoy_config, start_envoy, wait_for
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from labkit.envoy import remove_shared_memory
from mesh_runtime.mixer.reports import Inventory
from mesh_runtime.mixer.server import Mixer, serve_grpc
from mesh_runtime.pilot.telemetry import mixer_clusters, report_to_mixer

FLOOD = 20_000
BATCH = 100


def main() -> None:
    ports = {"grpc": free_port(), "zipkin": free_port(), "http": free_port()}
    # mixer in a process of its own, so its work does not slow the measuring client's threads
    mixer = multiprocessing.get_context("spawn").Process(target=serve_mixer, args=(ports,),
                                                         daemon=True)  # fmt: skip
    mixer.start()
    try:
        wait_for_mixer(ports["http"])
        with tempfile.TemporaryDirectory() as tmp:
            on_and_off(Path(tmp), ports)
        ingest_rate(ports)
    finally:
        mixer.terminate()
        mixer.join(timeout=10)


def serve_mixer(ports: dict[str, int]) -> None:
    mixer = Mixer(Inventory())

    async def run() -> None:
        grpc_server = await serve_grpc(mixer, f"127.0.0.1:{ports['grpc']}")
        servers = [
            uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                          access_log=False))
            for app, port in ((mixer.traces.app(), ports["zipkin"]),
                              (mixer.http_app(), ports["http"]))
        ]  # fmt: skip
        await asyncio.gather(*(server.serve() for server in servers))
        await grpc_server.stop(0)

    asyncio.run(run())


def wait_for_mixer(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("mixer did not start")


def reports(port: int) -> float:
    """Reports mixer has ingested so far, from its own metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("mixer_reports_total"))  # fmt: skip


def spans(port: int) -> int:
    traces = httpx.get(f"http://127.0.0.1:{port}/api/v2/traces?limit=100000", timeout=10).json()
    return sum(len(trace) for trace in traces)


def with_telemetry(config: dict[str, Any], grpc_port: int, zipkin_port: int) -> dict[str, Any]:
    """``config`` as pilot would make it with mixer running, mixer being on loopback here."""
    config = copy.deepcopy(config)
    report_to_mixer(config["static_resources"]["listeners"])
    for cluster in mixer_clusters():
        port = grpc_port if cluster["name"] == "mixer" else zipkin_port
        cluster["type"] = "STATIC"
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        address["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": port}
        config["static_resources"]["clusters"].append(cluster)
    return config


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def on_and_off(work: Path, ports: dict[str, int]) -> None:
    backend_port = backend("127.0.0.1", "v1")
    results: dict[str, tuple[list[float], float]] = {}
    for mode in ("telemetry off", "telemetry on"):
        port = free_port()
        config = envoy_config("proxy", port, "127.0.0.1", "app", ("127.0.0.1", backend_port),
                              free_port(), server_tls=False, client_tls=None)  # fmt: skip
        if mode == "telemetry on":
            config = with_telemetry(config, ports["grpc"], ports["zipkin"])
        name = mode.replace(" ", "-")
        process, base_id = start_envoy(work, name, config, work / f"{name}-sds")
        try:
            wait_for(port)
            before = cpu_seconds(process.pid)
            reports_before = reports(ports["http"])
            print(f"one Envoy, {mode}:")
            samples = paced(port, "reviews")
            cpu = cpu_seconds(process.pid) - before
            results[mode] = (samples, cpu)
            print(f"  {percentiles(samples)}; Envoy CPU {cpu:.2f} s for {len(samples)} requests")
            if mode == "telemetry on":
                time.sleep(1.5)  # the access log flushes every 0.5 s
                reported = reports(ports["http"]) - reports_before
                print(f"  mixer got {reported:.0f} reports; its trace store keeps the newest "
                      f"{spans(ports['zipkin'])} spans")  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=10)
            remove_shared_memory(base_id)
    off, on = results["telemetry off"], results["telemetry on"]
    ratios = []
    for q in (0.5, 0.9, 0.99):
        plain = sorted(off[0])[int(q * len(off[0]))]
        told = sorted(on[0])[int(q * len(on[0]))]
        ratios.append(f"p{round(q * 100)} {told / plain:.2f}x (+{(told - plain) * 1000:.2f} ms)")
    print("telemetry on / off: " + ", ".join(ratios)
          + f"; Envoy CPU {on[1] / off[1]:.2f}x")  # fmt: skip


def ingest_rate(ports: dict[str, int]) -> None:
    entry = accesslog_pb2.HTTPAccessLogEntry()
    entry.common_properties.upstream_cluster = "outbound|80||reviews.default.svc.cluster.local"
    entry.common_properties.upstream_remote_address.socket_address.address = "10.244.0.9"
    entry.common_properties.time_to_last_downstream_tx_byte.nanos = 1_500_000
    entry.request.authority = "reviews"
    entry.response.response_code.value = 200

    def messages() -> Any:
        first = als_pb2.StreamAccessLogsMessage()
        first.identifier.node.id = "sidecar~10.244.0.8~sleep-1.default~default.svc.cluster.local"
        first.identifier.log_name = "mixer"
        yield first
        for _ in range(FLOOD // BATCH):
            message = als_pb2.StreamAccessLogsMessage()
            message.http_logs.log_entry.extend([entry] * BATCH)
            yield message

    before = reports(ports["http"])
    began = time.perf_counter()
    with grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}") as channel:
        als_pb2_grpc.AccessLogServiceStub(channel).StreamAccessLogs(messages())
    took = time.perf_counter() - began  # the call returns once mixer has read the whole stream
    ingested = reports(ports["http"]) - before
    print(f"mixer ingest: {ingested:.0f} reports in {took:.2f} s: {ingested / took:,.0f} reports/s "
          f"(batches of {BATCH}, one stream)")  # fmt: skip


if __name__ == "__main__":
    main()
