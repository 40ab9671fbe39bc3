"""The live service graph: who calls whom, how often, how well, and whether over mTLS.

Edges are kept over a sliding window (a minute by default) from the reports
that see them best: the destination's, when the destination has a sidecar
(it alone knows whether the call came over mTLS), else the source's. Nodes
are workloads with their app and version, and services.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mesh_runtime.mixer.reports import Report

Obj = dict[str, Any]


@dataclass
class _Edge:
    samples: deque[tuple[float, bool, float, str]] = field(
        default_factory=deque
    )  # t, error, ms, tls


class ServiceGraph:
    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._edges: dict[tuple[str, str, str], _Edge] = {}
        self._nodes: dict[str, Obj] = {}
        self._lock = threading.Lock()

    def record(self, report: Report, now: float | None = None) -> None:
        counted = report.reporter == "destination" or not report.destination.sidecar
        if not counted or report.protocol != "http":
            return
        now = time.monotonic() if now is None else now
        source = f"{report.source.namespace}/{report.source.name}"
        target = f"{report.destination.namespace}/{report.destination.name}"
        error = report.response_code == "0" or report.response_code.startswith("5")
        with self._lock:
            for key, workload in ((source, report.source), (target, report.destination)):
                self._nodes[key] = {"id": key, "workload": workload.name,
                                    "namespace": workload.namespace, "app": workload.app,
                                    "version": workload.version}  # fmt: skip
            edge = self._edges.setdefault((source, target, report.service), _Edge())
            edge.samples.append((now, error, report.duration_ms, report.security))

    def snapshot(self, now: float | None = None) -> Obj:
        now = time.monotonic() if now is None else now
        edges: list[Obj] = []
        with self._lock:
            for (source, target, service), edge in list(self._edges.items()):
                while edge.samples and edge.samples[0][0] < now - self.window:
                    edge.samples.popleft()
                if not edge.samples:
                    del self._edges[(source, target, service)]
                    continue
                latencies = sorted(sample[2] for sample in edge.samples)
                count = len(edge.samples)
                edges.append({
                    "source": source, "target": target, "service": service,
                    "requests": count,
                    "rps": round(count / self.window, 3),
                    "error_rate": round(sum(s[1] for s in edge.samples) / count, 3),
                    "p50_ms": round(latencies[count // 2], 2),
                    "p99_ms": round(latencies[min(count - 1, int(0.99 * count))], 2),
                    "mtls": edge.samples[-1][3] == "mutual_tls",
                })  # fmt: skip
            nodes = [self._nodes[n] for n in sorted({e["source"] for e in edges}
                                                    | {e["target"] for e in edges})]  # fmt: skip
            by_target: dict[str, list[tuple[float, bool, float, str]]] = {}
            for (_, target, _), edge in self._edges.items():
                by_target.setdefault(target, []).extend(edge.samples)
        workloads = [{"workload": target, **self._stats(samples)}
                     for target, samples in sorted(by_target.items())]  # fmt: skip
        return {"window_seconds": self.window, "nodes": nodes, "edges": edges,
                "workloads": workloads}  # fmt: skip

    def _stats(self, samples: list[tuple[float, bool, float, str]]) -> Obj:
        """What ``meshctl top`` shows of a workload: rate, success, latency, mTLS share."""
        latencies = sorted(sample[2] for sample in samples)
        count = len(samples)
        return {
            "requests": count,
            "rps": round(count / self.window, 3),
            "success_rate": round(1 - sum(s[1] for s in samples) / count, 3),
            "p50_ms": round(latencies[count // 2], 2),
            "p99_ms": round(latencies[min(count - 1, int(0.99 * count))], 2),
            "mtls_share": round(sum(s[3] == "mutual_tls" for s in samples) / count, 3),
        }
