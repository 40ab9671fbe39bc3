"""VirtualService ``tcp`` routes to Envoy: a listener per TCP service address with a tcp_proxy.

Opaque TCP has no Host header to pick a virtual host by, so, as Istio does,
each TCP service port gets its own listener named by the service's address
(``10.96.0.12_3306``): a sidecar's ``virtualOutbound`` hands a connection to
the listener matching its original destination exactly before falling back
to the HTTP listeners on ``0.0.0.0``. The first ``tcp`` entry of the host's
VirtualService whose match holds decides the destinations and weights;
without one, the service's own cluster.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.clusters import cluster_name
from mesh_runtime.pilot.model import MeshModel, Service, ServicePort
from mesh_runtime.pilot.routes import Source, destination_cluster, port_matches

Obj = dict[str, Any]
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


def tcp_listeners(model: MeshModel, source: Source, bind: bool, address: str = "") -> list[Obj]:
    """Listeners for every TCP port of every service with an address.

    Bound (no capture) they listen on ``address`` instead, one per port: the
    first service by name takes a port number two services share.
    """
    listeners: dict[str, Obj] = {}
    for service in sorted(model.services.values(), key=lambda s: s.host):
        for port in service.ports:
            if port.protocol != "TCP":
                continue
            for ip in [address] if bind else service.addresses:
                name = f"{ip}_{port.port}"
                if ip and ip != "None" and name not in listeners:
                    proxy = tcp_proxy(model, service, port, source)
                    listeners[name] = tcp_listener(name, ip, port.port, bind, proxy)
    return list(listeners.values())


def tcp_listener(name: str, address: str, port: int, bind: bool, proxy: Obj) -> Obj:
    return {
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "bind_to_port": bind,
        "traffic_direction": "OUTBOUND",
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy}]}
        ],
    }


def tcp_proxy(model: MeshModel, service: Service, port: ServicePort, source: Source) -> Obj:
    """The tcp_proxy for connections to ``service``'s ``port``, as its VirtualService says."""
    proxy: Obj = {"@type": TCP_PROXY, "stat_prefix": cluster_name(service.host, port.port)}
    rule = model.virtual_service(service.host)
    entry = _first_match(rule, port.port, source) if rule else None
    if entry is None:
        proxy["cluster"] = cluster_name(service.host, port.port)
        return proxy
    namespace = rule["metadata"].get("namespace", "default") if rule else "default"
    destinations = [
        (
            destination_cluster(d.get("destination") or {}, namespace, port.port),
            int(d.get("weight", 0)),
        )
        for d in entry.get("route") or []
    ]
    if len(destinations) == 1:
        proxy["cluster"] = destinations[0][0]
    else:
        proxy["weighted_clusters"] = {
            "clusters": [
                {"name": name, "weight": weight} for name, weight in destinations if weight
            ]
        }
    return proxy


def _first_match(rule: Obj, port: int, source: Source) -> Obj | None:
    for entry in rule.get("spec", {}).get("tcp") or []:
        matches = entry.get("match") or [{}]
        if any(port_matches(m, port) and source.matches(m) for m in matches):
            return dict(entry)
    return None
