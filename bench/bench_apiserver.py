"""Embedded API server: create rate, get/list latency with 1,000 pods, watch
fan-out latency to 50 watchers, and the server's memory, idle and loaded.

Everything runs against a real API server process over TLS on loopback.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labplatform.clusters.embedded.manager import EmbeddedClusters
from labplatform.clusters.embedded.pki import ClusterCredentials

PODS = 1000
WRITERS = 4
GETS = 500
LISTS = 30
WATCHERS = 50
ROUNDS = 20


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pod(i: int) -> dict:
    return {
        "metadata": {"name": f"bench-{i:04d}", "labels": {"app": "bench", "shard": str(i % 10)}},
        # Bound to a node that does not exist, so this node's kubelet leaves them be:
        # the figures are the API server's, not 1,000 processes'.
        "spec": {
            "nodeName": "elsewhere",
            "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "1d"]}],
        },
    }


async def watch_fanout(server: str, token: str, ca: Path) -> list[float]:
    context = ssl.create_default_context(cafile=str(ca))
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    async with httpx.AsyncClient(verify=context, headers=headers, timeout=30) as client:
        listing = await client.get(f"{server}/api/v1/namespaces/default/configmaps")
        rv = listing.json()["metadata"]["resourceVersion"]
        queues: list[asyncio.Queue[float]] = [asyncio.Queue() for _ in range(WATCHERS)]

        async def watcher(queue: asyncio.Queue[float]) -> None:
            url = f"{server}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"
            async with client.stream("GET", url) as response:
                async for line in response.aiter_lines():
                    if line:
                        sent = float(json.loads(line)["object"]["data"]["sent"])
                        queue.put_nowait(time.perf_counter() - sent)

        tasks = [asyncio.create_task(watcher(q)) for q in queues]
        await asyncio.sleep(1.0)
        for i in range(ROUNDS):
            body = {"metadata": {"name": f"fan-{i}"}, "data": {"sent": repr(time.perf_counter())}}
            await client.post(f"{server}/api/v1/namespaces/default/configmaps", json=body)
            for queue in queues:
                latencies.append(await asyncio.wait_for(queue.get(), 10))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clusters = EmbeddedClusters(Path(tmp))
        began = time.perf_counter()
        info = clusters.create("bench")
        print(f"cluster create -> API ready: {(time.perf_counter() - began) * 1000:.0f} ms")
        try:
            time.sleep(1.0)
            node = clusters.node_pid(info.name) or info.pid  # the API server runs in the node
            print(f"API server RSS idle: {rss_mb(node):.1f} MB")
            api_client = k8s_config.new_client_from_config(str(clusters.kubeconfig("bench")))
            core = k8s.CoreV1Api(api_client)

            began = time.perf_counter()
            with ThreadPoolExecutor(WRITERS) as pool:
                list(pool.map(lambda i: core.create_namespaced_pod("default", pod(i)), range(PODS)))
            elapsed = time.perf_counter() - began
            print(f"create {PODS} pods ({WRITERS} clients): {PODS / elapsed:.0f} pods/s")

            gets = []
            for i in range(GETS):
                t = time.perf_counter()
                core.read_namespaced_pod(f"bench-{i % PODS:04d}", "default")
                gets.append(time.perf_counter() - t)
            print(f"get pod with {PODS} pods: p50 {pct(gets, 0.5):.1f} ms, ", end="")
            print(f"p99 {pct(gets, 0.99):.1f} ms")
            lists, selected = [], []
            for _ in range(LISTS):
                t = time.perf_counter()
                core.list_namespaced_pod("default", _preload_content=False).read()
                lists.append(time.perf_counter() - t)
                t = time.perf_counter()
                core.list_namespaced_pod(
                    "default", label_selector="shard=3", _preload_content=False
                ).read()
                selected.append(time.perf_counter() - t)
            print(f"list {PODS} pods: p50 {pct(lists, 0.5):.1f} ms, p99 {pct(lists, 0.99):.1f} ms")
            print(
                f"list by label (100 of {PODS}): p50 {pct(selected, 0.5):.1f} ms, "
                f"p99 {pct(selected, 0.99):.1f} ms"
            )
            print(f"API server RSS with {PODS} pods: {rss_mb(node):.1f} MB")

            credentials = ClusterCredentials.load_or_create(clusters.directory("bench") / "pki")
            fan = asyncio.run(
                watch_fanout(info.server, credentials.token, credentials.ca_cert_path)
            )
            print(
                f"watch fan-out to {WATCHERS} watchers ({ROUNDS} writes): "
                f"p50 {pct(fan, 0.5):.1f} ms, p99 {pct(fan, 0.99):.1f} ms"
            )
            api_client.close()
        finally:
            clusters.delete("bench")


if __name__ == "__main__":
    main()
