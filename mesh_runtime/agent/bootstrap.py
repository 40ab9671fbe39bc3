"""Envoy's bootstrap: who the proxy is, where pilot is, and the admin port.

Everything else (listeners, routes, clusters, endpoints) comes over ADS.
pilot is reached on a unix socket when it is on the same machine: a socket
in the filesystem crosses network namespaces, so no route to pilot is
needed from inside a pod.
"""

from __future__ import annotations

from typing import Any

XDS_CLUSTER = "xds-grpc"
ADS = {"ads": {}, "resource_api_version": "V3"}


def pilot_address(address: str) -> dict[str, Any]:
    """``unix:/path`` or ``host:port`` as an Envoy address."""
    if address.startswith("unix:"):
        return {"pipe": {"path": address.removeprefix("unix:")}}
    host, _, port = address.rpartition(":")
    return {"socket_address": {"address": host, "port_value": int(port)}}


def _literal(address: str) -> bool:
    if address.startswith("unix:"):
        return True
    host = address.rpartition(":")[0]
    return host.replace(".", "").isdigit()


# Statistics named as Istio's proxies name them. Envoy's default extractor ends a
# cluster's name at its first dot, which cuts "outbound|80||reviews.default.svc.cluster.local"
# in two; these keep the whole name, so a metric says which service it is about.
_ADDRESS = r"(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"  # IPv4 or IPv6, then a dot
STATS_TAGS = [
    {"tag_name": "cluster_name", "regex": r"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)"},
    {"tag_name": "tcp_prefix", "regex": r"^tcp\.((.*?)\.)\w+?$"},
    {"tag_name": "response_code", "regex": r"_rq(_(\d{3}))$"},
    {"tag_name": "response_code_class", "regex": r"_rq(_(\dxx))$"},
    {"tag_name": "http_conn_manager_prefix", "regex": r"^http\." + _ADDRESS},
    {"tag_name": "listener_address", "regex": r"^listener\." + _ADDRESS},
]  # fmt: skip


def bootstrap(node_id: str, cluster: str, pilot: str, admin_port: int) -> dict[str, Any]:
    return {
        "node": {"id": node_id, "cluster": cluster},
        "stats_config": {"use_all_default_tags": False, "stats_tags": STATS_TAGS},
        "admin": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
                "set_node_on_first_message_only": True,
            },
            "lds_config": ADS,
            "cds_config": ADS,
        },
        "static_resources": {
            "clusters": [
                {
                    "name": XDS_CLUSTER,
                    # a name (istiod.istio-system.svc) is looked up through the pod's DNS
                    "type": "STATIC" if _literal(pilot) else "STRICT_DNS",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": XDS_CLUSTER,
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": pilot_address(pilot)}}]}
                        ],
                    },
                }
            ]
        },
    }
