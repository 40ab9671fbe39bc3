"""A sidecar's ``virtualInbound`` (15006): what reaches the app, over which TLS, by whose leave.

Connections the capture rules send here are matched on their original
destination port and on what the TLS inspector saw. Per port, the
PeerAuthentication mode decides the filter chains: STRICT has only a mutual
TLS chain (plaintext finds no chain and is reset), DISABLE only a plaintext
one, PERMISSIVE both (mTLS when the client offered ALPN ``istio``). A port
of a service speaking HTTP gets an HTTP connection manager, which tells the
app who called (``x-forwarded-client-cert``) and runs RequestAuthentication,
mixer's policy check (:mod:`mesh_runtime.pilot.policy`) and
AuthorizationPolicy; any other port is proxied as TCP, with
AuthorizationPolicy's TCP rules. Ports no service names use the
workload-wide mode.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.authn import peer_mode
from mesh_runtime.pilot.authz import rbac_filters
from mesh_runtime.pilot.jwt import jwt_filter
from mesh_runtime.pilot.listeners import (
    HCM_TYPE,
    INBOUND_PASSTHROUGH,
    INBOUND_PORT,
    TLS_INSPECTOR,
    http_filter,
    listener_filter,
)
from mesh_runtime.pilot.model import MeshModel, Workload
from mesh_runtime.pilot.policy import policy_filter
from mesh_runtime.pilot.tls import ALPN, istio_mutual_server

Obj = dict[str, Any]
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


def inbound_listener(model: MeshModel, workload: Workload, ip: str) -> Obj:
    policies = model.policies("AuthorizationPolicy", workload)
    # checked in order: the end-user's token, mixer's policy, then AuthorizationPolicy
    checks = [f for f in (jwt_filter(model, workload), policy_filter(model, workload)) if f]
    chains: list[Obj] = []
    for port, protocol in sorted(model.inbound_ports(workload, ip).items()):
        mode = peer_mode(model, workload, port)
        chains += _chains(mode, port, protocol == "HTTP", policies, checks)
    chains += _chains(peer_mode(model, workload), None, False, policies, [])
    return {
        "name": "virtualInbound",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": INBOUND_PORT}},
        "traffic_direction": "INBOUND",
        "listener_filters": [
            listener_filter("envoy.filters.listener.original_dst", "original_dst.v3.OriginalDst"),
            TLS_INSPECTOR,
        ],
        "filter_chains": chains,
    }


def _chains(mode: str, port: int | None, http: bool, policies: list[Obj], checks: list[Obj]) -> (
    list[Obj]
):  # fmt: skip
    where: Obj = {"destination_port": port} if port is not None else {}
    label = port if port is not None else "any"
    chains = []
    if mode in ("STRICT", "PERMISSIVE"):
        match = {**where, "transport_protocol": "tls"}
        if mode == "PERMISSIVE":  # other TLS (the app's own) passes through as plaintext
            match["application_protocols"] = [ALPN]
        chains.append({
            "name": f"inbound|{label}|mtls",
            "filter_chain_match": match,
            "transport_socket": istio_mutual_server(),
            "filters": _filters(port, http, policies, checks, mtls=True),
        })  # fmt: skip
    if mode in ("PERMISSIVE", "DISABLE"):
        chains.append({
            "name": f"inbound|{label}|plaintext",
            "filter_chain_match": where,
            "filters": _filters(port, http, policies, checks, mtls=False),
        })  # fmt: skip
    return chains


def _filters(port: int | None, http: bool, policies: list[Obj], checks: list[Obj], mtls: bool) -> (
    list[Obj]
):  # fmt: skip
    if not http:
        proxy = {"@type": TCP_PROXY, "stat_prefix": f"inbound|{port or 'any'}",
                 "cluster": INBOUND_PASSTHROUGH}  # fmt: skip
        return [*rbac_filters(policies, http=False),
                {"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy}]  # fmt: skip
    filters = [*checks, *rbac_filters(policies, http=True)]
    filters.append(http_filter("envoy.filters.http.router", "router.v3.Router"))
    manager: Obj = {
        "@type": HCM_TYPE,
        "stat_prefix": f"inbound_0.0.0.0_{port}",
        "codec_type": "AUTO",
        "normalize_path": True,
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "route_config": {
            "name": f"inbound|{port}",
            "validate_clusters": False,
            "virtual_hosts": [{"name": f"inbound|http|{port}", "domains": ["*"], "routes": [
                {"name": "default", "match": {"prefix": "/"},
                 "route": {"cluster": INBOUND_PASSTHROUGH, "timeout": "0s"}}]}],
        },
        "http_filters": filters,
        # The app learns who called: the caller's SPIFFE ID, when it came over mTLS.
        "forward_client_cert_details": "APPEND_FORWARD" if mtls else "SANITIZE",
    }  # fmt: skip
    if mtls:
        manager["set_current_client_cert_details"] = {"uri": True}
    return [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]
