"""Istio's standard metrics, with its names, labels and buckets, in Prometheus's exposition.

The same names a Grafana dashboard for Istio queries: ``istio_requests_total``,
``istio_request_duration_milliseconds``, ``istio_request_bytes``,
``istio_response_bytes`` for HTTP, ``istio_tcp_sent_bytes_total`` and
``istio_tcp_received_bytes_total`` for TCP.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mesh_runtime.mixer.reports import Report

LABELS = (
    "reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app",
    "source_version", "destination_workload", "destination_workload_namespace",
    "destination_principal", "destination_app", "destination_version", "destination_service",
    "destination_service_name", "destination_service_namespace", "request_protocol",
    "response_code", "response_flags", "connection_security_policy",
)  # fmt: skip
DURATION_BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
                    300000, 600000, 1800000, 3600000)  # fmt: skip
BYTE_BUCKETS = tuple(float(10**n) for n in range(10))


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        # prometheus_client adds "_total" to counters itself.
        self.requests = Counter("istio_requests", "Requests.", LABELS, registry=r)
        self.duration = Histogram("istio_request_duration_milliseconds", "Request duration.",
                                  LABELS, buckets=DURATION_BUCKETS, registry=r)  # fmt: skip
        self.request_bytes = Histogram("istio_request_bytes", "Request sizes.", LABELS,
                                       buckets=BYTE_BUCKETS, registry=r)  # fmt: skip
        self.response_bytes = Histogram("istio_response_bytes", "Response sizes.", LABELS,
                                        buckets=BYTE_BUCKETS, registry=r)  # fmt: skip
        self.tcp_sent = Counter("istio_tcp_sent_bytes", "TCP bytes sent.", LABELS, registry=r)
        self.tcp_received = Counter("istio_tcp_received_bytes", "TCP bytes received.", LABELS,
                                    registry=r)  # fmt: skip
        self.reports = Counter("mixer_reports", "Reports ingested.", ("protocol",), registry=r)

    def record(self, report: Report) -> None:
        labels = report.labels()
        self.reports.labels(report.protocol).inc()
        if report.protocol == "tcp":
            self.tcp_received.labels(**labels).inc(report.request_bytes)
            self.tcp_sent.labels(**labels).inc(report.response_bytes)
            return
        self.requests.labels(**labels).inc()
        self.duration.labels(**labels).observe(report.duration_ms)
        self.request_bytes.labels(**labels).observe(report.request_bytes)
        self.response_bytes.labels(**labels).observe(report.response_bytes)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
