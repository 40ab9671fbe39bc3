"""Sidecar injection: what Istio's injector adds to a pod, as one function.

The capture init container (``istio-init``: NET_ADMIN to write the pod's
nat rules) and the proxy container (``istio-proxy``: uid 1337, readiness
on 15021, the pod's identity from the downward API), with what the proxy
needs for its certificate: a token for citadel's audience, the mesh root
(the ``istio-ca-root-cert`` ConfigMap citadel keeps in every namespace) and
a private in-memory directory for its key. ``meshctl
kube-inject`` applies it to manifests offline; the injection webhook to
pods as they are created. A pod already injected, or annotated
``sidecar.istio.io/inject: "false"``, is left alone.

HTTP probes are rewritten as Istio rewrites them: the kubelet asks the
agent on 15020 (``/app-health/<container>/readyz``), which asks the app on
loopback. Otherwise, once a namespace is STRICT, the kubelet's plaintext
probe would be refused by the sidecar and every pod would turn unready.
``sidecar.istio.io/rewriteAppHTTPProbers: "false"`` keeps the probes as written.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from mesh_runtime.identity import (
    ROOT_CONFIGMAP,
    ROOT_PATH,
    SDS_DIRECTORY,
    TOKEN_AUDIENCE,
    TOKEN_PATH,
)

Obj = dict[str, Any]
PROXY_IMAGE = "labplatform/proxy"
STATUS_ANNOTATION = "sidecar.istio.io/status"
INJECT_ANNOTATION = "sidecar.istio.io/inject"
REWRITE_ANNOTATION = "sidecar.istio.io/rewriteAppHTTPProbers"
PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
STATUS_PORT = 15020
PROBES = {"readinessProbe": "readyz", "livenessProbe": "livez", "startupProbe": "startupz"}
WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")
CA_ADDRESS = "istio-citadel.istio-system.svc:15012"
VOLUMES = [
    {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
    {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
        "audience": TOKEN_AUDIENCE, "expirationSeconds": 43200,
        "path": TOKEN_PATH.rsplit("/", 1)[1]}}]}},
    {"name": "istiod-ca-cert", "configMap": {"name": ROOT_CONFIGMAP}},
]  # fmt: skip
MOUNTS = [
    {"name": "istio-envoy", "mountPath": SDS_DIRECTORY.rsplit("/", 1)[0]},
    {"name": "istio-token", "mountPath": TOKEN_PATH.rsplit("/", 1)[0], "readOnly": True},
    {"name": "istiod-ca-cert", "mountPath": ROOT_PATH.rsplit("/", 1)[0], "readOnly": True},
]


def _field(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


# What the sidecar asks of a namespace's quota: a namespace whose quota caps cpu or memory
# admits pods with sidecars only if every container states both. Smaller than Istio's
# defaults (100m/128Mi, limits 2 cores/1Gi): a lab's Envoy is idle most of the time.
RESOURCES = {"requests": {"cpu": "10m", "memory": "40Mi"},
             "limits": {"cpu": "1", "memory": "512Mi"}}  # fmt: skip


def sidecar_containers(pilot: str) -> tuple[Obj, Obj]:
    """(init container, proxy container)."""
    init = {
        "name": "istio-init",
        "image": PROXY_IMAGE,
        "imagePullPolicy": "IfNotPresent",  # kind loads our images; no registry has them
        "args": ["capture"],
        "resources": copy.deepcopy(RESOURCES),
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
    }
    proxy = {
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["proxy", "--pilot", pilot, "--ca-address", CA_ADDRESS],
        "resources": copy.deepcopy(RESOURCES),
        "env": [
            _field("POD_NAME", "metadata.name"),
            _field("POD_NAMESPACE", "metadata.namespace"),
            _field("INSTANCE_IP", "status.podIP"),
            _field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        ],
        "ports": [
            {"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"},
            {"name": "http-status", "containerPort": 15020, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": 15021},
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
        "securityContext": {"runAsUser": 1337, "runAsGroup": 1337},
        "volumeMounts": copy.deepcopy(MOUNTS),
    }
    return init, proxy


def inject_pod_spec(template: Obj, pilot: str) -> Obj:
    """A pod (or pod template) with the sidecar; unchanged if it has one or opted out."""
    meta = template.setdefault("metadata", {})
    annotations = meta.get("annotations") or {}
    if STATUS_ANNOTATION in annotations or annotations.get(INJECT_ANNOTATION) == "false":
        return template
    injected = copy.deepcopy(template)
    spec = injected.setdefault("spec", {})
    init, proxy = sidecar_containers(pilot)
    if annotations.get(REWRITE_ANNOTATION) != "false":
        probers = _rewrite_probes(spec.get("containers") or [])
        if probers:
            proxy["env"].append({"name": PROBERS_ENV, "value": json.dumps(probers)})
    spec["initContainers"] = [*(spec.get("initContainers") or []), init]
    spec["containers"] = [*(spec.get("containers") or []), proxy]
    taken = {volume.get("name") for volume in spec.get("volumes") or []}
    spec["volumes"] = [*(spec.get("volumes") or []),
                       *(copy.deepcopy(v) for v in VOLUMES if v["name"] not in taken)]  # fmt: skip
    injected["metadata"]["annotations"] = {
        **annotations,
        STATUS_ANNOTATION: '{"initContainers":["istio-init"],"containers":["istio-proxy"]}',
    }
    labels = injected["metadata"].setdefault("labels", {})
    labels.setdefault("security.istio.io/tlsMode", "istio")
    return injected


def _rewrite_probes(containers: list[Obj]) -> dict[str, Obj]:
    """Point each HTTP probe at the agent; returns what the agent must ask instead, by path."""
    probers: dict[str, Obj] = {}
    for container in containers:
        named = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
        for field, suffix in PROBES.items():
            probe: Obj = container.get(field) or {}
            get = probe.get("httpGet")
            if not get:
                continue
            port = named.get(get.get("port"), get.get("port"))
            path = f"/app-health/{container['name']}/{suffix}"
            probers[path] = {
                "httpGet": {**get, "port": port},
                "timeoutSeconds": probe.get("timeoutSeconds", 1),
            }
            probe["httpGet"] = {"path": path, "port": STATUS_PORT, "scheme": "HTTP"}
    return probers


def inject(obj: Obj, pilot: str) -> Obj:
    """A manifest with every pod in it injected (pods, workloads' templates, Lists)."""
    kind = obj.get("kind")
    if kind == "List":
        return {**obj, "items": [inject(item, pilot) for item in obj.get("items") or []]}
    if kind == "Pod":
        return inject_pod_spec(obj, pilot)
    if kind in WORKLOAD_KINDS:
        injected = copy.deepcopy(obj)
        spec = injected.setdefault("spec", {})
        template = spec.get("template")
        if kind == "Job" or template is not None:
            spec["template"] = inject_pod_spec(template or {}, pilot)
        return injected
    return obj
