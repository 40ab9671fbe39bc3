"""Envoy listeners: where a proxy takes traffic in and which route configuration it uses.

A sidecar (``capture=True``) takes every outbound connection on
``virtualOutbound`` (15001, where the capture rules send them) and hands
it by original destination to a listener per TCP service address
(``10.96.0.12_3306``, see :mod:`mesh_runtime.pilot.tcp`) or per HTTP
service port (``0.0.0.0_80``), none bound itself, the HTTP ones with routes
over RDS; anything else passes through to where it was going. Without
capture (a gateway, or a proxy in front of a test), the per-port listeners
bind themselves. A sidecar's inbound side is :mod:`mesh_runtime.pilot.inbound`.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.clusters import ADS
from mesh_runtime.pilot.model import MeshModel
from mesh_runtime.pilot.routes import CORS_FILTER, FAULT_FILTER, Source
from mesh_runtime.pilot.tcp import tcp_listeners

Obj = dict[str, Any]
OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
PASSTHROUGH = "PassthroughCluster"
INBOUND_PASSTHROUGH = "InboundPassthroughClusterIpv4"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)


def build_listeners(
    model: MeshModel, source: Source, capture: bool = True, address: str = "0.0.0.0"
) -> list[Obj]:
    ports = sorted(
        {p.port for s in model.services.values() for p in s.ports if p.protocol == "HTTP"}
    )
    listeners = tcp_listeners(model, source, bind=not capture, address=address)
    listeners += [http_listener(address, port, bind=not capture) for port in ports]
    if capture:
        listeners.append(_virtual_outbound())
    return listeners


def passthrough_clusters() -> list[Obj]:
    """Where traffic goes that no rule names: out to where it was going, or in to the app.

    Inbound connections leave Envoy from 127.0.0.6, which the capture rules
    let through to the app instead of capturing them again.
    """
    original = {"type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "10s"}
    return [
        {"name": PASSTHROUGH, **original},
        {
            "name": INBOUND_PASSTHROUGH,
            **original,
            "upstream_bind_config": {"source_address": {"address": "127.0.0.6", "port_value": 0}},
        },
    ]


def http_listener(address: str, port: int, bind: bool, route_name: str = "") -> Obj:
    """An HTTP listener whose routes come over RDS (``route_name``, by default the port)."""
    return {
        "name": f"{address}_{port}",
        "address": {"socket_address": {"address": address, "port_value": port}},
        "bind_to_port": bind,
        "traffic_direction": "OUTBOUND",
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM_TYPE,
                            "stat_prefix": f"outbound_{address}_{port}",
                            "upgrade_configs": [{"upgrade_type": "websocket"}],
                            "rds": {
                                "route_config_name": route_name or str(port),
                                "config_source": ADS,
                            },
                            "http_filters": [
                                http_filter(CORS_FILTER, "cors.v3.Cors"),
                                http_filter(FAULT_FILTER, "fault.v3.HTTPFault"),
                                http_filter("envoy.filters.http.router", "router.v3.Router"),
                            ],
                        },
                    }
                ]
            }
        ],
    }


def http_filter(name: str, config_type: str) -> Obj:
    """An HTTP filter with its defaults; routes configure CORS and faults per route."""
    return {
        "name": name,
        "typed_config": {
            "@type": f"type.googleapis.com/envoy.extensions.filters.http.{config_type}"
        },
    }


def listener_filter(name: str, config_type: str) -> Obj:
    config_url = f"type.googleapis.com/envoy.extensions.filters.listener.{config_type}"
    return {"name": name, "typed_config": {"@type": config_url}}


TLS_INSPECTOR = listener_filter(
    "envoy.filters.listener.tls_inspector", "tls_inspector.v3.TlsInspector"
)


def _virtual_outbound() -> Obj:
    return {
        "name": "virtualOutbound",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": OUTBOUND_PORT}},
        "use_original_dst": True,
        "traffic_direction": "OUTBOUND",
        "filter_chains": [
            {
                "name": "virtualOutbound-catchall-tcp",
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                            "stat_prefix": PASSTHROUGH,
                            "cluster": PASSTHROUGH,
                        },
                    }
                ],
            }
        ],
    }
