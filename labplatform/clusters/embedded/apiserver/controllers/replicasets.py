"""ReplicaSets keep the right number of pods from their template.

Pods are named ``<replicaset>-<5 random>`` and owned by the ReplicaSet, so
deleting one gets it replaced and deleting the ReplicaSet removes them.
When there are too many, the least useful go first: pending before
running, unready before ready, newest before oldest.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import (
    ControllerSpec,
    Item,
    own_item,
    owner_items,
)
from labplatform.clusters.embedded.apiserver.store import Change, Obj

RS_KEY = "apps/replicasets"
POD_KEY = "/pods"
BURST = 50


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds``; returns how long is left via ``remaining``."""
    return pod_ready(pod) and _ready_for(pod, now) >= min_ready_seconds


def _ready_for(pod: Obj, now: datetime) -> float:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            stamp = condition.get("lastTransitionTime")
            if not stamp:
                return float("inf")
            since = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return (now - since).total_seconds()
    return 0.0


def owned_by(obj: Obj, uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def controller_ref(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


def _items(api: Api, change: Change) -> list[Item]:
    if change.key == RS_KEY:
        return own_item(change)
    items = owner_items(change, "ReplicaSet")
    if change.previous is not None:
        items += owner_items(Change(0, "MODIFIED", POD_KEY, change.previous), "ReplicaSet")
    return items


def _all(api: Api) -> list[Item]:
    return [
        (rs["metadata"]["namespace"], rs["metadata"]["name"]) for rs in api.store.objects(RS_KEY)
    ]


def _removal_rank(pod: Obj) -> tuple[int, int, str]:
    phase = pod.get("status", {}).get("phase")
    return (
        0 if phase == "Pending" else 1,
        1 if pod_ready(pod) else 0,
        # newest first: negate by sorting on the reversed timestamp string below
        "".join(chr(255 - ord(c)) for c in pod["metadata"].get("creationTimestamp", "")),
    )


async def _reconcile(api: Api, item: Item) -> float | None:
    namespace, name = item
    rs = api.store.get(RS_KEY, namespace, name)
    if rs is None or rs["metadata"].get("deletionTimestamp"):
        return None
    uid = rs["metadata"]["uid"]
    pods_rt = api.registry.by_key(POD_KEY)
    live = [p for p in api.store.objects(POD_KEY, namespace) if owned_by(p, uid) and active(p)]
    desired = int(rs["spec"].get("replicas", 1))
    if len(live) < desired:
        template = rs["spec"].get("template") or {}
        for _ in range(min(desired - len(live), BURST)):
            meta = copy.deepcopy(template.get("metadata") or {})
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "generateName": f"{name}-",
                    "labels": meta.get("labels", {}),
                    "annotations": meta.get("annotations", {}),
                    "ownerReferences": [controller_ref(rs)],
                },
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            created = await api.create(pods_rt, namespace, pod)
            await api.record_event(
                rs,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {created['metadata']['name']}",
                "replicaset-controller",
            )
    elif len(live) > desired:
        for pod in sorted(live, key=_removal_rank)[: len(live) - desired]:
            await api.delete(pods_rt, namespace, pod["metadata"]["name"])
            await api.record_event(
                rs,
                "Normal",
                "SuccessfulDelete",
                f"Deleted pod: {pod['metadata']['name']}",
                "replicaset-controller",
            )
    return await _update_status(api, rs)


async def _update_status(api: Api, rs: Obj) -> float | None:
    namespace, uid = rs["metadata"]["namespace"], rs["metadata"]["uid"]
    now = datetime.now(UTC)
    min_ready = int(rs["spec"].get("minReadySeconds", 0))
    pods = [p for p in api.store.objects(POD_KEY, namespace) if owned_by(p, uid) and active(p)]
    labels = (rs["spec"].get("template") or {}).get("metadata", {}).get("labels") or {}
    ready = [p for p in pods if pod_ready(p)]
    status = {
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(
            1 for p in pods if labels.items() <= (p["metadata"].get("labels") or {}).items()
        ),
        "readyReplicas": len(ready),
        "availableReplicas": sum(1 for p in ready if pod_available(p, min_ready, now)),
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
    current = api.store.get(RS_KEY, namespace, rs["metadata"]["name"])
    if current is not None and current.get("status") != status:
        current["status"] = status
        await api.update(
            api.registry.by_key(RS_KEY),
            namespace,
            rs["metadata"]["name"],
            current,
            subresource="status",
        )
    waiting = [
        min_ready - _ready_for(p, now) for p in ready if not pod_available(p, min_ready, now)
    ]
    return max(min(waiting), 0.1) if waiting else None


REPLICASETS = ControllerSpec("replicaset", (RS_KEY, POD_KEY), _items, _all, _reconcile)
