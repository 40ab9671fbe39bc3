"""From an Envoy access log entry to a report: who called whom, how it went, Istio's attributes.

Every proxy streams a record of each request it handles (Envoy's gRPC
access log service). The reporting proxy says which side it stands on: a
record of an outbound request (its cluster is ``outbound|...``) is the
source's report, one of an inbound request the destination's, as Istio's
``reporter`` label has it. The other end is found by its address among the
pods mixer knows, the service by the cluster's host (outbound) or the
request's authority (inbound), and mTLS by whether the inbound connection
came over TLS with a peer certificate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from envoy.data.accesslog.v3 import accesslog_pb2

from mesh_runtime.identity import Proxy, spiffe_id
from mesh_runtime.pilot.model import TLS_MODE_LABEL, fqdn

Obj = dict[str, Any]
UNKNOWN = "unknown"
INBOUND_PASSTHROUGH = "InboundPassthroughClusterIpv4"
# Envoy's response flags, as their short names in Istio's response_flags label.
FLAGS = {
    "failed_local_healthcheck": "LH", "no_healthy_upstream": "UH",
    "upstream_request_timeout": "UT", "local_reset": "LR", "upstream_remote_reset": "UR",
    "upstream_connection_failure": "UF", "upstream_connection_termination": "UC",
    "upstream_overflow": "UO", "no_route_found": "NR", "delay_injected": "DI",
    "fault_injected": "FI", "rate_limited": "RL", "downstream_connection_termination": "DC",
    "stream_idle_timeout": "SI", "upstream_retry_limit_exceeded": "URX",
}  # fmt: skip


@dataclass(frozen=True)
class Workload:
    name: str  # the Deployment's (or the pod's own) name
    namespace: str
    app: str
    version: str
    principal: str  # spiffe://... of its service account
    sidecar: bool
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of_pod(cls, pod: Obj) -> Workload:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        owners = meta.get("ownerReferences") or []
        name = meta.get("name", UNKNOWN)
        if owners and owners[0].get("kind") == "ReplicaSet":
            name = owners[0]["name"].rsplit("-", 1)[0]  # the Deployment's name
        elif owners:
            name = owners[0].get("name", name)
        namespace = meta.get("namespace", "default")
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        return cls(name, namespace, labels.get("app", UNKNOWN), labels.get("version", UNKNOWN),
                   spiffe_id(namespace, account), labels.get(TLS_MODE_LABEL) == "istio",
                   dict(labels))  # fmt: skip


NOBODY = Workload(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, False)


class Inventory:
    """Pods by address (and name), kept by mixer's watch; read by the report builders."""

    def __init__(self) -> None:
        self._by_ip: dict[str, Workload] = {}
        self._by_pod: dict[tuple[str, str], Workload] = {}
        self._lock = threading.Lock()

    def set_pod(self, pod: Obj) -> None:
        ip = (pod.get("status") or {}).get("podIP")
        meta = pod.get("metadata") or {}
        workload = Workload.of_pod(pod)
        with self._lock:
            self._by_pod[(meta.get("namespace", "default"), meta.get("name", ""))] = workload
            if ip:
                self._by_ip[ip] = workload

    def delete_pod(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        with self._lock:
            self._by_pod.pop((meta.get("namespace", "default"), meta.get("name", "")), None)
            self._by_ip.pop((pod.get("status") or {}).get("podIP") or "", None)

    def at(self, ip: str) -> Workload:
        return self._by_ip.get(ip, NOBODY)

    def pod(self, namespace: str, name: str) -> Workload:
        return self._by_pod.get((namespace, name), NOBODY)


@dataclass(frozen=True)
class Report:
    reporter: str  # source or destination
    source: Workload
    destination: Workload
    service: str  # the destination service's host
    protocol: str  # http or tcp
    response_code: str
    response_flags: str
    security: str  # mutual_tls, none, or unknown (a source cannot tell)
    duration_ms: float
    request_bytes: int
    response_bytes: int

    def labels(self) -> dict[str, str]:
        """Istio's standard metric labels."""
        name, _, rest = self.service.partition(".")
        return {
            "reporter": self.reporter,
            "source_workload": self.source.name,
            "source_workload_namespace": self.source.namespace,
            "source_principal": self.source.principal,
            "source_app": self.source.app,
            "source_version": self.source.version,
            "destination_workload": self.destination.name,
            "destination_workload_namespace": self.destination.namespace,
            "destination_principal": self.destination.principal,
            "destination_app": self.destination.app,
            "destination_version": self.destination.version,
            "destination_service": self.service,
            "destination_service_name": name or UNKNOWN,
            "destination_service_namespace": rest.split(".")[0] if rest else UNKNOWN,
            "request_protocol": self.protocol,
            "response_code": self.response_code,
            "response_flags": self.response_flags,
            "connection_security_policy": self.security,
        }


def _ip(address: Any) -> str:
    return str(address.socket_address.address) if address.HasField("socket_address") else ""


def _flags(common: Any) -> str:
    flags = common.response_flags
    set_flags = [short for field, short in FLAGS.items()
                 if hasattr(flags, field) and getattr(flags, field)]  # fmt: skip
    if flags.HasField("unauthorized_details"):
        set_flags.append("UAEX")
    return ",".join(set_flags) or "-"


def _security(common: Any) -> str:
    tls = common.tls_properties
    return "mutual_tls" if tls.tls_version and tls.peer_certificate_properties.subject_alt_name \
        else "none"  # fmt: skip


def _sides(reporter: Proxy, common: Any, inventory: Inventory, authority: str) -> tuple[
    str, Workload, Workload, str, str
]:  # fmt: skip
    """(reporter label, source, destination, service host, security) of one record."""
    me = inventory.pod(reporter.namespace, reporter.pod)
    cluster = common.upstream_cluster
    host = authority.rsplit(":", 1)[0] if authority else ""
    named = fqdn(host, me.namespace) if host and not host[0].isdigit() else UNKNOWN
    if cluster == INBOUND_PASSTHROUGH or cluster.startswith("inbound|"):
        source = inventory.at(_ip(common.downstream_remote_address))
        return "destination", source, me, named, _security(common)
    parts = cluster.split("|")
    # No cluster when no host could be picked (no healthy upstream): the Host header says.
    service = parts[3] if len(parts) == 4 else named
    destination = inventory.at(_ip(common.upstream_remote_address))
    return "source", me, destination, service, UNKNOWN


def http_report(reporter: Proxy, entry: accesslog_pb2.HTTPAccessLogEntry,
                inventory: Inventory) -> Report:  # fmt: skip
    common = entry.common_properties
    side, source, destination, service, security = _sides(
        reporter, common, inventory, entry.request.authority
    )
    took = common.time_to_last_downstream_tx_byte
    code = entry.response.response_code.value if entry.response.HasField("response_code") else 0
    return Report(
        side, source, destination, service, "http", str(code), _flags(common), security,
        took.seconds * 1000 + took.nanos / 1e6,
        entry.request.request_headers_bytes + entry.request.request_body_bytes,
        entry.response.response_headers_bytes + entry.response.response_body_bytes,
    )  # fmt: skip


def tcp_report(reporter: Proxy, entry: accesslog_pb2.TCPAccessLogEntry,
               inventory: Inventory) -> Report:  # fmt: skip
    common = entry.common_properties
    side, source, destination, service, security = _sides(reporter, common, inventory, "")
    took = common.duration
    return Report(
        side, source, destination, service, "tcp", "0", _flags(common), security,
        took.seconds * 1000 + took.nanos / 1e6,
        entry.connection_properties.received_bytes, entry.connection_properties.sent_bytes,
    )  # fmt: skip
