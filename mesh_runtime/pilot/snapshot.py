"""One proxy's whole configuration, built from the model by the four builders."""

from __future__ import annotations

from mesh_runtime.pilot.ads import Proxy
from mesh_runtime.pilot.clusters import build_clusters
from mesh_runtime.pilot.endpoints import build_endpoints
from mesh_runtime.pilot.listeners import build_listeners, passthrough_clusters
from mesh_runtime.pilot.model import MeshModel
from mesh_runtime.pilot.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    Snapshot,
    TypedResources,
)
from mesh_runtime.pilot.routes import build_routes


def build_snapshot(model: MeshModel, proxy: Proxy) -> Snapshot:
    """A sidecar captures and passes unknown traffic through; a router binds its listeners."""
    sidecar = proxy.kind == "sidecar"
    clusters = build_clusters(model) + (passthrough_clusters() if sidecar else [])
    listeners = build_listeners(model, capture=sidecar, address="0.0.0.0" if sidecar else proxy.ip)
    return {
        CLUSTER: TypedResources.build(CLUSTER, clusters),
        ENDPOINT: TypedResources.build(ENDPOINT, build_endpoints(model)),
        LISTENER: TypedResources.build(LISTENER, listeners),
        ROUTE: TypedResources.build(ROUTE, build_routes(model, proxy.namespace)),
    }
