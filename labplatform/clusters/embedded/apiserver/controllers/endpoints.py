"""Endpoints and EndpointSlices: which pod addresses stand behind each Service.

The node runtime's service proxy and the mesh's pilot read these, so they
follow pod readiness closely: a pod that stops being ready moves to
``notReadyAddresses`` at once, a terminating pod leaves the Endpoints (its
EndpointSlice entry stays, marked ``terminating``, as upstream's), and a
named ``targetPort`` resolves to each pod's own container port, so pods
that number a port differently land in different subsets (and slices).
Only pods with an IP count. A Service without a selector is left alone:
its Endpoints are the user's to write.
"""

from __future__ import annotations

import copy
import hashlib
import json

from labplatform.clusters.embedded.apiserver.controllers.base import (
    WRITE,
    NsName,
    Reconciler,
    controller_ref,
    delete_quietly,
    ns_name,
)
from labplatform.clusters.embedded.apiserver.controllers.replicasets import POD_KEY, pod_ready
from labplatform.clusters.embedded.apiserver.store import Change, Obj

SERVICE_KEY = "/services"
ENDPOINTS_KEY = "/endpoints"
SLICE_KEY = "discovery.k8s.io/endpointslices"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"

Port = tuple[str, int, str, str]  # name, number, protocol, appProtocol


def _selector(service: Obj) -> dict[str, str] | None:
    """The pods a Service selects by; None for a Service this controller leaves alone."""
    spec = service["spec"]
    if spec.get("type") == "ExternalName" or not spec.get("selector"):
        return None
    return dict(spec["selector"])


def _ports(service: Obj, pod: Obj) -> tuple[Port, ...]:
    """The Service's ports as this pod serves them; a name the pod lacks is left out."""
    resolved = []
    for port in service["spec"].get("ports") or []:
        protocol = port.get("protocol", "TCP")
        target = port.get("targetPort", port.get("port"))
        number = target if isinstance(target, int) else _container_port(pod, target, protocol)
        if number is not None:
            resolved.append((port.get("name", ""), number, protocol, port.get("appProtocol", "")))
    return tuple(resolved)


def _container_port(pod: Obj, name: str, protocol: str) -> int | None:
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _port_fields(port: Port, keep_empty_name: bool) -> Obj:
    name, number, protocol, app_protocol = port
    fields: Obj = {"name": name} if name or keep_empty_name else {}
    fields.update(port=number, protocol=protocol)
    if app_protocol:
        fields["appProtocol"] = app_protocol
    return fields


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _address(pod: Obj) -> Obj:
    address: Obj = {"ip": pod["status"]["podIP"]}
    if pod["spec"].get("nodeName"):
        address["nodeName"] = pod["spec"]["nodeName"]
    address["targetRef"] = _target_ref(pod)
    return address


def _slice_endpoint(pod: Obj, publish_not_ready: bool) -> Obj:
    serving = pod_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    endpoint: Obj = {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {
            # Never ready while terminating, unless the Service publishes unready pods.
            "ready": publish_not_ready or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
        "targetRef": _target_ref(pod),
    }
    if pod["spec"].get("nodeName"):
        endpoint["nodeName"] = pod["spec"]["nodeName"]
    return endpoint


class Endpoints(Reconciler[NsName]):
    name = "endpoint-controller"
    watches = frozenset({SERVICE_KEY, POD_KEY, ENDPOINTS_KEY, SLICE_KEY})

    def items_for(self, change: Change) -> list[NsName]:
        namespace = change.namespace
        if change.key in (SERVICE_KEY, ENDPOINTS_KEY):
            return [ns_name(change.obj)]
        if change.key == SLICE_KEY:
            service = (change.obj["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
            return [(namespace, service)] if service else []
        label_sets = [
            pod["metadata"].get("labels") or {}
            for pod in (change.obj, change.previous)
            if pod is not None
        ]
        return [
            ns_name(service)
            for service in self.api.store.objects(SERVICE_KEY, namespace)
            if (selector := _selector(service))
            and any(selector.items() <= labels.items() for labels in label_sets)
        ]

    def all_items(self) -> list[NsName]:
        return [ns_name(s) for s in self.api.store.objects(SERVICE_KEY)]

    async def reconcile(self, item: NsName) -> float | None:
        namespace, name = item
        service = self.api.store.get(SERVICE_KEY, namespace, name)
        if service is None:
            await self._remove(namespace, name)
            return None
        selector = _selector(service)
        if selector is None:
            return None
        groups: dict[tuple[Port, ...], list[Obj]] = {}
        has_ports = bool(service["spec"].get("ports"))
        for pod in self.api.store.objects(POD_KEY, namespace):
            status = pod.get("status") or {}
            if (
                status.get("podIP")
                and status.get("phase") not in ("Succeeded", "Failed")
                and selector.items() <= (pod["metadata"].get("labels") or {}).items()
                and ((ports := _ports(service, pod)) or not has_ports)
            ):
                groups.setdefault(ports, []).append(pod)
        for pods in groups.values():
            pods.sort(key=lambda p: (p["status"]["podIP"], p["metadata"]["uid"]))
        await self._sync_endpoints(service, groups)
        await self._sync_slices(service, groups)
        return None

    def _labels(self, service: Obj) -> dict[str, str]:
        labels = dict(service["metadata"].get("labels") or {})
        if service["spec"].get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        return labels

    async def _sync_endpoints(
        self, service: Obj, groups: dict[tuple[Port, ...], list[Obj]]
    ) -> None:
        namespace, name = ns_name(service)
        publish = bool(service["spec"].get("publishNotReadyAddresses"))
        subsets = []
        for ports, pods in sorted(groups.items()):
            # A terminating pod takes no new connections: out, unless unready pods are published.
            listed = [p for p in pods if publish or not p["metadata"].get("deletionTimestamp")]
            subset: Obj = {}
            ready = [_address(p) for p in listed if publish or pod_ready(p)]
            not_ready = [_address(p) for p in listed if not publish and not pod_ready(p)]
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            if subset and ports:
                subset["ports"] = [_port_fields(p, keep_empty_name=False) for p in ports]
            if subset:
                subsets.append(subset)
        labels = self._labels(service)
        rt = self.api.registry.by_key(ENDPOINTS_KEY)
        existing = self.api.store.get(ENDPOINTS_KEY, namespace, name)
        if existing is None:
            body: Obj = {"metadata": {"name": name, "labels": labels}}
            if subsets:
                body["subsets"] = subsets
            await self.api.create(rt, namespace, body, WRITE)
        elif (existing.get("subsets") or [], existing["metadata"].get("labels") or {}) != (
            subsets,
            labels,
        ):
            existing["metadata"]["labels"] = labels
            existing.pop("subsets", None)
            if subsets:
                existing["subsets"] = subsets
            await self.api.update(rt, namespace, name, existing, opts=WRITE)

    async def _sync_slices(self, service: Obj, groups: dict[tuple[Port, ...], list[Obj]]) -> None:
        """One slice per set of resolved ports; a Service with no pods keeps one empty slice."""
        namespace, name = ns_name(service)
        publish = bool(service["spec"].get("publishNotReadyAddresses"))
        desired: dict[str, Obj] = {}
        for ports, pods in sorted(groups.items()) or [((), [])]:
            content: Obj = {
                "addressType": "IPv4",
                "endpoints": [_slice_endpoint(p, publish) for p in pods],
            }
            if ports:
                content["ports"] = [_port_fields(p, keep_empty_name=True) for p in ports]
            key = json.dumps([service["metadata"]["uid"], ports])
            desired[f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:5]}"] = content
        labels = {
            **self._labels(service),
            SERVICE_NAME_LABEL: name,
            MANAGED_BY_LABEL: MANAGED_BY,
        }
        rt = self.api.registry.by_key(SLICE_KEY)
        for existing in self._slices(namespace, name):
            wanted = desired.pop(existing["metadata"]["name"], None)
            if wanted is None:
                await delete_quietly(self.api, rt, existing)
            elif any(existing.get(k) != wanted.get(k) for k in ("endpoints", "ports")) or (
                existing["metadata"].get("labels") != labels
            ):
                updated = {k: v for k, v in copy.deepcopy(existing).items() if k != "ports"}
                updated.update(wanted)
                updated["metadata"]["labels"] = labels
                await self.api.update(
                    rt, namespace, updated["metadata"]["name"], updated, opts=WRITE
                )
        for slice_name, content in desired.items():
            metadata = {
                "name": slice_name,
                "labels": labels,
                "ownerReferences": [controller_ref(service)],
            }
            await self.api.create(rt, namespace, {"metadata": metadata, **content}, WRITE)

    def _slices(self, namespace: str, service: str) -> list[Obj]:
        return [
            s
            for s in self.api.store.objects(SLICE_KEY, namespace)
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == service
            and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]

    async def _remove(self, namespace: str, name: str) -> None:
        """The Service is gone: so are its Endpoints and the slices made for it."""
        endpoints = self.api.store.get(ENDPOINTS_KEY, namespace, name)
        if endpoints is not None:
            await delete_quietly(self.api, self.api.registry.by_key(ENDPOINTS_KEY), endpoints)
        slice_rt = self.api.registry.by_key(SLICE_KEY)
        for endpoint_slice in self._slices(namespace, name):
            await delete_quietly(self.api, slice_rt, endpoint_slice)
