"""Envoy clusters: one per service port, and one per DestinationRule subset of it.

Names follow Istio (``outbound|80|v1|reviews.default.svc.cluster.local``)
so ``meshctl proxy-config cluster`` reads like ``istioctl``'s. A
DestinationRule's traffic policy (load balancer, connection pool, outlier
detection) applies to the service's clusters, a subset's own policy to
that subset's, and a ``portLevelSettings`` entry to its port, in Istio's
order of precedence. A Kubernetes Service's and a STATIC ServiceEntry's
endpoints come over EDS; a DNS ServiceEntry's names are resolved by Envoy
itself, and a NONE one's traffic goes where it was addressed. A
DestinationRule's ``tls`` sets how the proxy connects; without one, auto mTLS
speaks Istio mutual TLS to the endpoints that have sidecars, checking they
run as the service's accounts.
"""

from __future__ import annotations

from typing import Any

from labkit.durations import envoy_duration
from mesh_runtime.identity import spiffe_id
from mesh_runtime.pilot import tls
from mesh_runtime.pilot.model import Endpoint, MeshModel, Service, ServicePort

Obj = dict[str, Any]
ADS = {"ads": {}, "resource_api_version": "V3"}
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
LB_POLICIES = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "LEAST_CONN": "LEAST_REQUEST",
    "RANDOM": "RANDOM",
    "PASSTHROUGH": "CLUSTER_PROVIDED",
}


def cluster_name(host: str, port: int, subset: str = "") -> str:
    return f"outbound|{port}|{subset}|{host}"


def build_clusters(model: MeshModel) -> list[Obj]:
    clusters = []
    for service in model.services.values():
        rule = model.destination_rule(service.host)
        spec = (rule or {}).get("spec", {})
        endpoints = model.endpoints(service)
        sidecars = any(e.workload is not None and e.workload.sidecar for e in endpoints)
        accounts = sorted({spiffe_id(e.workload.namespace, e.workload.account)
                           for e in endpoints if e.workload is not None})  # fmt: skip
        for port in service.ports:
            policy = _port_policy(spec.get("trafficPolicy") or {}, port.port)
            subsets = [("", policy)] + [
                (s["name"], {**policy, **_port_policy(s.get("trafficPolicy") or {}, port.port)})
                for s in spec.get("subsets") or []
                if service.resolution in ("EDS", "STATIC")
            ]
            for subset, subset_policy in subsets:
                cluster = _cluster(service, port, subset, subset_policy)
                sni = f"outbound_.{port.port}_.{subset}_.{service.host}"
                if "tls" in subset_policy:
                    socket = tls.from_destination_rule(subset_policy["tls"], sni, accounts)
                    if socket is not None:
                        cluster["transport_socket"] = socket
                elif sidecars:
                    cluster["transport_socket_matches"] = tls.auto_mtls(sni, accounts)
                if service.resolution not in ("EDS", "STATIC"):
                    _resolve_itself(cluster, endpoints, service, port)
                clusters.append(cluster)
    return clusters


def _resolve_itself(
    cluster: Obj, endpoints: list[Endpoint], service: Service, port: ServicePort
) -> None:
    """A ServiceEntry cluster whose addresses Envoy finds: by DNS, or the original destination."""
    del cluster["eds_cluster_config"]
    if service.resolution == "NONE":
        cluster.update(type="ORIGINAL_DST", lb_policy="CLUSTER_PROVIDED")
        return
    addresses = [(e.ip, e.port) for e in endpoints if e.port_name == port.name]
    if not addresses:  # no endpoints listed: the host itself, on the port
        addresses = [(service.host, port.target_port or port.port)]
    cluster["type"] = "LOGICAL_DNS" if service.resolution == "DNS_ROUND_ROBIN" else "STRICT_DNS"
    cluster["dns_lookup_family"] = "V4_ONLY"  # pods here have IPv4 addresses only, as Istio assumes
    cluster["load_assignment"] = {
        "cluster_name": cluster["name"],
        "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": number}}}}
            for ip, number in addresses
        ]}],
    }  # fmt: skip


def _port_policy(policy: Obj, port: int) -> Obj:
    """The policy for ``port``: a matching portLevelSettings entry replaces the top level."""
    for level in policy.get("portLevelSettings") or []:
        if (level.get("port") or {}).get("number") == port:
            return {k: v for k, v in level.items() if k != "port"}
    return {k: v for k, v in policy.items() if k != "portLevelSettings"}


def _cluster(service: Service, port: ServicePort, subset: str, policy: Obj) -> Obj:
    name = cluster_name(service.host, port.port, subset)
    cluster: Obj = {
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": ADS, "service_name": name},
        "connect_timeout": "10s",
        "lb_policy": "ROUND_ROBIN",
        "common_lb_config": {},
        "metadata": {
            "filter_metadata": {
                "istio": {"services": [{"host": service.host, "name": service.name,
                                        "namespace": service.namespace}], "subset": subset}
            }
        },
    }  # fmt: skip
    if port.protocol == "HTTP":
        cluster["typed_extension_protocol_options"] = {
            HTTP_OPTIONS: {
                "@type": f"type.googleapis.com/{HTTP_OPTIONS}",
                "use_downstream_protocol_config": {
                    "http_protocol_options": {},
                    "http2_protocol_options": {},
                },
                **_http_pool(policy.get("connectionPool") or {}),
            }
        }
    _load_balancer(cluster, policy.get("loadBalancer") or {})
    _connection_pool(cluster, policy.get("connectionPool") or {})
    _outlier_detection(cluster, policy.get("outlierDetection"))
    return cluster


def _load_balancer(cluster: Obj, balancer: Obj) -> None:
    if "simple" in balancer:
        cluster["lb_policy"] = LB_POLICIES.get(balancer["simple"], "ROUND_ROBIN")
        return
    hashing = balancer.get("consistentHash")
    if hashing:
        cluster["lb_policy"] = "RING_HASH"
        cluster["ring_hash_lb_config"] = {
            "minimum_ring_size": str(hashing.get("minimumRingSize", 1024))
        }


def _connection_pool(cluster: Obj, pool: Obj) -> None:
    tcp, http = pool.get("tcp") or {}, pool.get("http") or {}
    thresholds: Obj = {}
    if "maxConnections" in tcp:
        thresholds["max_connections"] = tcp["maxConnections"]
    if "http1MaxPendingRequests" in http:
        thresholds["max_pending_requests"] = http["http1MaxPendingRequests"]
    if "http2MaxRequests" in http:
        thresholds["max_requests"] = http["http2MaxRequests"]
    if "maxRetries" in http:
        thresholds["max_retries"] = http["maxRetries"]
    if thresholds:
        cluster["circuit_breakers"] = {"thresholds": [thresholds]}
    if "connectTimeout" in tcp:
        cluster["connect_timeout"] = envoy_duration(tcp["connectTimeout"])


def _http_pool(pool: Obj) -> Obj:
    http = pool.get("http") or {}
    options: Obj = {}
    if "maxRequestsPerConnection" in http:
        options["common_http_protocol_options"] = {
            "max_requests_per_connection": http["maxRequestsPerConnection"]
        }
    if "idleTimeout" in http:
        options.setdefault("common_http_protocol_options", {})["idle_timeout"] = envoy_duration(
            http["idleTimeout"]
        )
    return options


def _outlier_detection(cluster: Obj, outlier: Obj | None) -> None:
    if not outlier:
        return
    errors = outlier.get("consecutive5xxErrors", outlier.get("consecutiveErrors"))
    detection: Obj = {
        "interval": envoy_duration(outlier.get("interval", "10s")),
        "base_ejection_time": envoy_duration(outlier.get("baseEjectionTime", "30s")),
        "max_ejection_percent": outlier.get("maxEjectionPercent", 10),
        "enforcing_consecutive_5xx": 100 if errors else 0,
        "enforcing_success_rate": 0,
    }
    if errors:
        detection["consecutive_5xx"] = errors
    if "consecutiveGatewayErrors" in outlier:
        detection["consecutive_gateway_failure"] = outlier["consecutiveGatewayErrors"]
        detection["enforcing_consecutive_gateway_failure"] = 100
    cluster["outlier_detection"] = detection
    cluster["common_lb_config"]["healthy_panic_threshold"] = {
        "value": outlier.get("minHealthPercent", 0)
    }
