"""Gateway to Envoy: listeners and routes for a gateway proxy (the ingress gateway).

A Gateway selects proxies by label and opens ports on them; each HTTP
server becomes a bound listener whose routes (``http.<port>``) come from
the VirtualServices bound to that Gateway, with a virtual host per host
they name (``*`` answers for any). A port nobody routes answers 404, as
Istio's gateways do.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.listeners import http_listener
from mesh_runtime.pilot.model import MeshModel
from mesh_runtime.pilot.routes import Source, finish_routes, http_routes

Obj = dict[str, Any]


def gateway_servers(model: MeshModel, labels: dict[str, str]) -> dict[int, list[tuple[Obj, Obj]]]:
    """(Gateway, server) pairs by port, for the HTTP servers that apply to this proxy."""
    by_port: dict[int, list[tuple[Obj, Obj]]] = {}
    for gateway in model.gateways_for(labels):
        for server in gateway.get("spec", {}).get("servers") or []:
            port = server.get("port") or {}
            if str(port.get("protocol", "HTTP")).upper() in ("HTTP", "HTTP2", "GRPC"):
                by_port.setdefault(int(port["number"]), []).append((gateway, server))
    return by_port


def gateway_listeners(model: MeshModel, labels: dict[str, str]) -> list[Obj]:
    return [
        http_listener("0.0.0.0", port, bind=True, route_name=f"http.{port}")
        for port in sorted(gateway_servers(model, labels))
    ]


def gateway_routes(model: MeshModel, source: Source) -> list[Obj]:
    configurations = []
    for port, pairs in sorted(gateway_servers(model, source.labels).items()):
        hosts: dict[str, list[Obj]] = {}
        for gateway, server in pairs:
            allowed = [h.split("/", 1)[-1] for h in server.get("hosts") or ["*"]]
            for rule in model.virtual_services_for_gateway(gateway):
                for host in rule.get("spec", {}).get("hosts") or []:
                    if "*" in allowed or host in allowed:
                        routes = finish_routes(model, http_routes(rule, port, source))
                        hosts.setdefault(host, []).extend(routes)
        virtual_hosts = [
            {"name": f"{host}:{port}", "domains": [host, f"{host}:{port}"], "routes": routes}
            for host, routes in sorted(hosts.items())
        ]
        for virtual_host in virtual_hosts:
            if "*" in virtual_host["domains"]:
                virtual_host["domains"] = ["*"]
        configurations.append(
            {"name": f"http.{port}", "virtual_hosts": virtual_hosts, "validate_clusters": False}
        )
    return configurations
