"""Reports and traces to mixer: what every HTTP connection manager and TCP proxy sends.

When the cluster runs mixer (the Service ``istio-mixer`` in istio-system),
every proxy gets a ``mixer`` cluster (HTTP/2, found by DNS, so a Sidecar's
egress scope cannot hide it) and each of its HTTP connection managers and
TCP proxies streams a record of every request and connection there; HTTP
connection managers also start or continue the request's trace (B3 and W3C
headers) and send their spans to mixer's Zipkin API (the ``zipkin``
cluster). Without mixer nothing is added, and nothing waits on it: records
and spans are sent asynchronously and dropped when mixer is away, so
telemetry fails open.
"""

from __future__ import annotations

import os
from typing import Any

from mesh_runtime.pilot.clusters import HTTP_OPTIONS
from mesh_runtime.pilot.model import MeshModel

Obj = dict[str, Any]
MIXER_HOST = "istio-mixer.istio-system.svc.cluster.local"
MIXER_PORT = 9091
ZIPKIN_PORT = 9411
CLUSTER = "mixer"
ZIPKIN = "zipkin"
# Labs want every request traced (Istio's default is 1%); istiod's own knob sets it.
SAMPLING_PERCENT = float(os.environ.get("PILOT_TRACE_SAMPLING", "100"))
GRPC_LOG = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3."


def mixer_present(model: MeshModel) -> bool:
    return MIXER_HOST in model.services


def mixer_clusters() -> list[Obj]:
    """``mixer`` (reports, gRPC) and ``zipkin`` (spans, HTTP/1.1), both at mixer's Service."""
    return [_cluster(CLUSTER, MIXER_PORT, http2=True), _cluster(ZIPKIN, ZIPKIN_PORT, http2=False)]


def _cluster(name: str, port: int, http2: bool) -> Obj:
    cluster: Obj = {
        "name": name,
        "type": "STRICT_DNS",
        "dns_lookup_family": "V4_ONLY",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": MIXER_HOST,
                                                         "port_value": port}}}}]}]},
    }  # fmt: skip
    if http2:
        cluster["typed_extension_protocol_options"] = {HTTP_OPTIONS: {
            "@type": f"type.googleapis.com/{HTTP_OPTIONS}",
            "explicit_http_config": {"http2_protocol_options": {}}}}  # fmt: skip
    return cluster


def report_to_mixer(listeners: list[Obj]) -> None:
    """Give every HTTP connection manager and TCP proxy of ``listeners`` mixer's access log.

    Applied to the built listeners, as Istio's telemetry plugin does, so the
    builders stay about routing.
    """
    for listener in listeners:
        for chain in listener.get("filter_chains") or []:
            for network_filter in chain.get("filters") or []:
                config = network_filter.get("typed_config") or {}
                if network_filter["name"] == "envoy.filters.network.http_connection_manager":
                    config["access_log"] = _access_log("Http")
                    config["tracing"] = TRACING
                elif network_filter["name"] == "envoy.filters.network.tcp_proxy":
                    config["access_log"] = _access_log("Tcp")


TRACING: Obj = {
    "provider": {
        "name": "envoy.tracers.zipkin",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
            "collector_cluster": ZIPKIN,
            "collector_endpoint": "/api/v2/spans",
            "collector_endpoint_version": "HTTP_JSON",
            "trace_id_128bit": True,
            "shared_span_context": False,
        },
    },
    "random_sampling": {"value": SAMPLING_PERCENT},
}


def _access_log(kind: str) -> list[Obj]:
    common = {"log_name": "mixer", "transport_api_version": "V3",
              "grpc_service": {"envoy_grpc": {"cluster_name": CLUSTER}},
              "buffer_flush_interval": "0.5s"}  # fmt: skip
    return [{
        "name": f"envoy.access_loggers.{kind.lower()}_grpc",
        "typed_config": {"@type": f"{GRPC_LOG}{kind}GrpcAccessLogConfig", "common_config": common},
    }]  # fmt: skip
