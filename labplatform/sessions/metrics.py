"""The platform's own Prometheus metrics, served on ``/metrics``.

One registry per app, so two servers in one process (tests) keep apart.
Gauges that mirror the database (sessions by state, pool) are read when
scraped, so they can never drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

START_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300)


class PlatformMetrics:
    def __init__(self, counts: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.registry = CollectorRegistry()
        self.session_start = Histogram(
            "labplatform_session_start_seconds",
            "From pressing Start to a ready cluster with the lab set up.",
            ["source"],  # pool or cold
            buckets=START_BUCKETS,
            registry=self.registry,
        )
        self.sessions_ended = Counter(
            "labplatform_sessions_ended_total",
            "Sessions ended, by reason (stopped, idle, reset, failed, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.errors = Counter(
            "labplatform_errors_total",
            "Operations that failed, by what was being done.",
            ["operation"],
            registry=self.registry,
        )
        self.checks = Counter(
            "labplatform_checks_total",
            "Presses of Check, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.full = Counter(
            "labplatform_capacity_refusals_total",
            "Starts refused because every environment was in use.",
            registry=self.registry,
        )
        self.registry.register(_Gauges(counts))


class _Gauges(Collector):
    """``labplatform_sessions{state}``, ``labplatform_pool_clusters{state}``, terminals."""

    def __init__(self, counts: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        counts = self.counts()
        for name, helptext, label in (
            ("labplatform_sessions", "Lab sessions by state.", "state"),
            ("labplatform_pool_clusters", "Pre-warmed clusters by state.", "state"),
            ("labplatform_terminals", "Live terminals (shells).", "kind"),
        ):
            family = GaugeMetricFamily(name, helptext, labels=[label])
            for value_label, value in sorted(counts.get(name, {}).items()):
                family.add_metric([value_label], value)
            yield family
