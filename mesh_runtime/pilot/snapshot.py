"""One proxy's whole configuration, built from the model by the four builders."""

from __future__ import annotations

from mesh_runtime.identity import Proxy
from mesh_runtime.pilot.clusters import build_clusters
from mesh_runtime.pilot.endpoints import build_endpoints
from mesh_runtime.pilot.gateways import gateway_listeners, gateway_routes, gateway_secrets
from mesh_runtime.pilot.inbound import inbound_listener
from mesh_runtime.pilot.listeners import build_listeners, passthrough_clusters
from mesh_runtime.pilot.model import MeshModel
from mesh_runtime.pilot.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SECRET,
    Snapshot,
    TypedResources,
)
from mesh_runtime.pilot.routes import Source, build_routes
from mesh_runtime.pilot.telemetry import mixer_clusters, mixer_present, report_to_mixer


def build_snapshot(mesh: MeshModel, proxy: Proxy) -> Snapshot:
    """A sidecar captures and passes unknown traffic through; a router serves its Gateways,
    or, when no Gateway selects it, every service port on its own address. Either sees
    the services its Sidecar resource lets it see, and routes as its labels select."""
    workload = mesh.workload(proxy.namespace, proxy.ip)
    source = Source(proxy.namespace, workload.labels)
    model = mesh.for_proxy(source.namespace, source.labels)
    clusters = build_clusters(model)
    routes = build_routes(model, source)
    secrets: list[dict[str, object]] = []
    if proxy.kind == "sidecar":
        clusters += passthrough_clusters()
        listeners = build_listeners(model, source, capture=True)
        listeners.append(inbound_listener(mesh, workload, proxy.ip))
    else:
        listeners = gateway_listeners(model, source.labels)
        if listeners:
            routes += gateway_routes(model, source)
            secrets = gateway_secrets(model, source)
        else:
            listeners = build_listeners(model, source, capture=False, address=proxy.ip)
    if mixer_present(mesh):
        clusters += mixer_clusters()
        report_to_mixer(listeners)
    return {
        CLUSTER: TypedResources.build(CLUSTER, clusters),
        ENDPOINT: TypedResources.build(ENDPOINT, build_endpoints(model)),
        LISTENER: TypedResources.build(LISTENER, listeners),
        ROUTE: TypedResources.build(ROUTE, routes),
        SECRET: TypedResources.build(SECRET, secrets),
    }
