"""Endpoints and EndpointSlices: which pod addresses stand behind each Service.

The node runtime's service proxy and the mesh's pilot read these, so they
must follow pod readiness closely: a pod that stops being ready moves to
``notReadyAddresses`` at once, and a named ``targetPort`` resolves to each
pod's own port number.
"""

from __future__ import annotations

import hashlib
from typing import Any

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import ControllerSpec, Item
from labplatform.clusters.embedded.apiserver.controllers.replicasets import (
    controller_ref,
    pod_ready,
)
from labplatform.clusters.embedded.apiserver.store import Change, Obj

SERVICE_KEY = "/services"
POD_KEY = "/pods"
ENDPOINTS_KEY = "/endpoints"
SLICE_KEY = "discovery.k8s.io/endpointslices"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _selects(service: Obj, pod: Obj) -> bool:
    selector = service["spec"].get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and selector.items() <= labels.items()


def _items(api: Api, change: Change) -> list[Item]:
    namespace = change.namespace
    if change.key in (SERVICE_KEY, ENDPOINTS_KEY):
        return [(namespace, change.obj["metadata"]["name"])]
    pods = [change.obj] + ([change.previous] if change.previous is not None else [])
    return [
        (namespace, svc["metadata"]["name"])
        for svc in api.store.objects(SERVICE_KEY, namespace)
        if any(_selects(svc, pod) for pod in pods)
    ]


def _all(api: Api) -> list[Item]:
    return [
        (s["metadata"]["namespace"], s["metadata"]["name"]) for s in api.store.objects(SERVICE_KEY)
    ]


def _target_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in pod["spec"].get("containers") or []:
        for candidate in container.get("ports") or []:
            if candidate.get("name") == target:
                return int(candidate["containerPort"])
    return None


def _address(pod: Obj) -> dict[str, Any]:
    meta = pod["metadata"]
    address: dict[str, Any] = {
        "ip": pod["status"]["podIP"],
        "targetRef": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }
    if pod["spec"].get("nodeName"):
        address["nodeName"] = pod["spec"]["nodeName"]
    return address


async def _reconcile(api: Api, item: Item) -> float | None:
    namespace, name = item
    service = api.store.get(SERVICE_KEY, namespace, name)
    endpoints_rt = api.registry.by_key(ENDPOINTS_KEY)
    existing = api.store.get(ENDPOINTS_KEY, namespace, name)
    if service is None:
        if existing is not None:
            await api.delete(endpoints_rt, namespace, name)
        return None
    if not service["spec"].get("selector"):
        return None  # endpoints of a selector-less Service are the user's
    pods = [
        p
        for p in api.store.objects(POD_KEY, namespace)
        if _selects(service, p) and p.get("status", {}).get("podIP")
    ]
    subsets: dict[tuple[tuple[str, int, str], ...], dict[str, list[Any]]] = {}
    for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
        ports = []
        for port in service["spec"].get("ports") or []:
            number = _target_port(port, pod)
            if number is not None:
                ports.append((port.get("name", ""), number, port.get("protocol", "TCP")))
        if not ports:
            continue
        subset = subsets.setdefault(tuple(ports), {"addresses": [], "notReadyAddresses": []})
        ready = pod_ready(pod) and not pod["metadata"].get("deletionTimestamp")
        subset["addresses" if ready else "notReadyAddresses"].append(_address(pod))
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(service["metadata"].get("labels") or {}),
        },
        "subsets": [
            {
                **{k: v for k, v in addresses.items() if v},
                "ports": [
                    {"name": n, "port": p, "protocol": proto}
                    if n
                    else {"port": p, "protocol": proto}
                    for n, p, proto in ports
                ],
            }
            for ports, addresses in subsets.items()
        ],
    }
    if not body["subsets"]:
        del body["subsets"]
    if existing is None:
        await api.create(endpoints_rt, namespace, body)
    elif (existing.get("subsets"), existing["metadata"].get("labels")) != (
        body.get("subsets"),
        body["metadata"]["labels"] or None,
    ):
        await api.update(
            endpoints_rt,
            namespace,
            name,
            {**existing, **body, "metadata": {**existing["metadata"], **body["metadata"]}},
        )
    await _sync_slice(api, service, pods)
    return None


async def _sync_slice(api: Api, service: Obj, pods: list[Obj]) -> None:
    meta = service["metadata"]
    namespace = meta["namespace"]
    suffix = hashlib.sha256(meta["uid"].encode()).hexdigest()[:5]
    name = f"{meta['name']}-{suffix}"
    ports = [
        {
            "name": p.get("name", ""),
            "port": _target_port(p, pods[0]) if pods else None,
            "protocol": p.get("protocol", "TCP"),
        }
        for p in service["spec"].get("ports") or []
    ]
    endpoints = []
    for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        ready = pod_ready(pod) and not terminating
        endpoint: dict[str, Any] = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": pod_ready(pod), "terminating": terminating},
            "targetRef": _address(pod)["targetRef"],
        }
        if pod["spec"].get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        endpoints.append(endpoint)
    body = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                SERVICE_NAME_LABEL: meta["name"],
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            "ownerReferences": [controller_ref(service)],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }
    slice_rt = api.registry.by_key(SLICE_KEY)
    existing = api.store.get(SLICE_KEY, namespace, name)
    if existing is None:
        await api.create(slice_rt, namespace, body)
    elif (existing.get("endpoints"), existing.get("ports")) != (endpoints, ports):
        await api.update(
            slice_rt, namespace, name, {**existing, "endpoints": endpoints, "ports": ports}
        )


ENDPOINTS = ControllerSpec(
    "endpoints", (SERVICE_KEY, POD_KEY, ENDPOINTS_KEY), _items, _all, _reconcile
)
