"""Envoy endpoints (EDS): the ready pods behind each cluster.

A service port's cluster gets every ready address of the Service on that
port; a subset's cluster only those whose pods carry the subset's labels,
which is how ``subset: v2`` reaches the pods labelled ``version: v2``. A
STATIC ServiceEntry's endpoints come the same way, with their own labels.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.clusters import cluster_name
from mesh_runtime.pilot.model import MeshModel

Obj = dict[str, Any]


def build_endpoints(model: MeshModel) -> list[Obj]:
    assignments = []
    for service in model.services.values():
        if service.resolution not in ("EDS", "STATIC"):
            continue  # Envoy resolves these itself
        rule = model.destination_rule(service.host)
        subsets = [("", {})] + [
            (s["name"], dict(s.get("labels") or {}))
            for s in (rule or {}).get("spec", {}).get("subsets") or []
        ]
        endpoints = model.endpoints(service)
        for port in service.ports:
            for subset, labels in subsets:
                chosen = [
                    e
                    for e in endpoints
                    if (e.port_name == port.name or len(service.ports) == 1)
                    and labels.items() <= e.labels.items()
                ]
                assignments.append(
                    {
                        "cluster_name": cluster_name(service.host, port.port, subset),
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {"endpoint": {"address": _address(e.ip, e.port)}}
                                    for e in sorted(chosen, key=lambda e: (e.ip, e.port))
                                ]
                            }
                        ],
                    }
                )
    return assignments


def _address(ip: str, port: int) -> Obj:
    return {"socket_address": {"address": ip, "port_value": port}}
