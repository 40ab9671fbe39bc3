"""The embedded node: time from `cluster create` to a usable shell, time to 10 pods
Running, memory per idle pod and per idle cluster, and 10 clusters at once.

Memory is PSS (proportional set size) summed over the cluster's processes, so
shared pages (Python, the libraries) are split between those who share them
rather than counted once per process.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import pss_mb

from labplatform.clusters.embedded.manager import EmbeddedClusters

PODS = 10
CLUSTERS = 10


def shell(clusters: EmbeddedClusters, name: str, *command: str) -> str:
    argv = clusters.shell_command(name, list(command))
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout


def wait_running(clusters: EmbeddedClusters, name: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = json.loads(shell(clusters, name, "kubectl", "get", "pods", "-o", "json"))["items"]
        ready = [
            p
            for p in pods
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", [])
            )
        ]
        if len(ready) >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{count} pods did not become Ready in {timeout:.0f} s")


def one_cluster(clusters: EmbeddedClusters) -> None:
    began = time.perf_counter()
    clusters.create("bench")
    shell(clusters, "bench", "kubectl", "get", "namespaces")
    print(f"cluster create -> shell with a working kubectl: {time.perf_counter() - began:.2f} s")
    time.sleep(2)
    idle = pss_mb(clusters.processes("bench"))
    print(f"idle cluster (supervisor, node, no pods): {idle:.0f} MB PSS")
    began = time.perf_counter()
    shell(
        clusters, "bench", "kubectl", "create", "deployment", "sleepers",
        "--image=busybox", f"--replicas={PODS}", "--", "sleep", "3600",
    )  # fmt: skip
    wait_running(clusters, "bench", PODS)
    print(f"{PODS} pods Running and Ready: {time.perf_counter() - began:.2f} s")
    time.sleep(2)
    loaded = pss_mb(clusters.processes("bench"))
    print(f"memory per idle pod (busybox sleep): {(loaded - idle) / PODS:.1f} MB PSS")
    clusters.delete("bench")


def many_clusters(clusters: EmbeddedClusters) -> None:
    names = [f"many-{i}" for i in range(CLUSTERS)]
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLUSTERS) as pool:
        list(pool.map(clusters.create, names))
    print(f"{CLUSTERS} clusters created at once: {time.perf_counter() - began:.2f} s")
    try:
        began = time.perf_counter()
        for name in names:
            shell(clusters, name, "kubectl", "run", "web", "--image=labplatform/whoami")
        for name in names:
            wait_running(clusters, name, 1)
        print(
            f"one pod Running in each of {CLUSTERS} clusters: {time.perf_counter() - began:.2f} s"
        )
        time.sleep(2)
        total = sum(pss_mb(clusters.processes(name)) for name in names)
        print(f"{CLUSTERS} clusters with one pod each: {total:.0f} MB PSS in all")
    finally:
        for name in names:
            clusters.delete(name)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clusters = EmbeddedClusters(Path(tmp))
        one_cluster(clusters)
        many_clusters(clusters)


if __name__ == "__main__":
    main()
