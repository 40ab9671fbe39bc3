"""Envoy endpoints (EDS): the ready pods behind each cluster.

A service port's cluster gets every ready address of the Service on that
port; a subset's cluster only those whose pods carry the subset's labels,
which is how ``subset: v2`` reaches the pods labelled ``version: v2``. A
STATIC ServiceEntry's endpoints come the same way, with their own labels.
An endpoint whose pod has a sidecar that takes mTLS on that port is marked
``tlsMode: istio``, which is what auto mTLS on the client side matches.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.authn import peer_mode
from mesh_runtime.pilot.clusters import cluster_name
from mesh_runtime.pilot.model import Endpoint, MeshModel
from mesh_runtime.pilot.tls import MATCH_KEY

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
                                    _lb_endpoint(model, e)
                                    for e in sorted(chosen, key=lambda e: (e.ip, e.port))
                                ]
                            }
                        ],
                    }
                )
    return assignments


def _lb_endpoint(model: MeshModel, endpoint: Endpoint) -> Obj:
    address = {"socket_address": {"address": endpoint.ip, "port_value": endpoint.port}}
    found: Obj = {"endpoint": {"address": address}}
    workload = endpoint.workload
    if workload and workload.sidecar and peer_mode(model, workload, endpoint.port) != "DISABLE":
        found["metadata"] = {"filter_metadata": {MATCH_KEY: {"tlsMode": "istio"}}}
    return found
