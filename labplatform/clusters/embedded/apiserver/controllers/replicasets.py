"""ReplicaSets keep the right number of pods from their template.

Pods are named ``<replicaset>-<5 random>`` and controlled by their
ReplicaSet, so deleting one gets it replaced and deleting the ReplicaSet
removes them. A pod whose labels stop matching is let go (and replaced); a
bare pod whose labels match is adopted (and, if that makes one too many,
removed). When there are too many, the least useful go first: unscheduled
before scheduled, pending before running, unready before ready, the most
restarted and the newest first. Terminating and finished pods do not count.

A pod is ready when its ``Ready`` condition is True (the node runtime sets
it) and available once it has been ready for ``minReadySeconds``; the
Deployment controller and ``kubectl rollout status`` build on these counts.
"""

from __future__ import annotations

import copy
import time

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import (
    WRITE,
    NsName,
    Reconciler,
    claim,
    controlled_by,
    controller_items,
    controller_of,
    controller_ref,
    delete_quietly,
    ns_name,
    parse_time,
    record_event,
    selecting,
    write_status,
)
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.selectors import label_selector_from_spec
from labplatform.clusters.embedded.apiserver.store import Change, Obj

RS_KEY = "apps/replicasets"
POD_KEY = "/pods"
COMPONENT = "replicaset-controller"
# Pods created per pass; the creations' own changes bring the ReplicaSet back for more.
BURST = 50
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def pod_ready(pod: Obj) -> bool:
    return ready_since(pod) is not None


def ready_since(pod: Obj) -> float | None:
    """When the pod became ready (seconds since the epoch), or None if it is not ready."""
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            stamp = condition.get("lastTransitionTime")
            return parse_time(stamp) if stamp else 0.0
    return None


def pod_active(pod: Obj) -> bool:
    """Neither terminating nor finished: a pod that counts towards a ReplicaSet's replicas."""
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


def _deletion_rank(pod: Obj) -> tuple[bool, int, bool, float, int, float]:
    """Sorts the pods to delete first to the front, as upstream's ``ActivePods`` order."""
    status = pod.get("status", {})
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    since = ready_since(pod)
    return (
        bool(pod["spec"].get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        since is not None,
        -(since or 0.0),
        -restarts,
        -parse_time(pod["metadata"]["creationTimestamp"]),
    )


class ReplicaSets(Reconciler[NsName]):
    name = "replicaset-controller"
    watches = frozenset({RS_KEY, POD_KEY})

    def items_for(self, change: Change) -> list[NsName]:
        if change.key == RS_KEY:
            return [ns_name(change.obj)]
        items = controller_items(change.obj, "ReplicaSet")
        items += controller_items(change.previous, "ReplicaSet")
        if change.type != "DELETED" and controller_of(change.obj) is None:
            items += selecting(self.api, RS_KEY, change.obj)  # an orphan a ReplicaSet may adopt
        return items

    def all_items(self) -> list[NsName]:
        return [ns_name(rs) for rs in self.api.store.objects(RS_KEY)]

    async def reconcile(self, item: NsName) -> float | None:
        namespace, name = item
        rs = self.api.store.get(RS_KEY, namespace, name)
        if rs is None:
            return None
        pods_rt = self.api.registry.by_key(POD_KEY)
        selector = label_selector_from_spec(rs["spec"].get("selector"))
        pods = await claim(
            self.api, rs, pods_rt, list(self.api.store.objects(POD_KEY, namespace)), selector
        )
        if not rs["metadata"].get("deletionTimestamp"):
            await self._manage(rs, [p for p in pods if pod_active(p)])
        return await _update_status(self.api, rs)

    async def _manage(self, rs: Obj, active: list[Obj]) -> None:
        diff = int(rs["spec"].get("replicas", 1)) - len(active)
        for _ in range(min(diff, BURST)):
            await self._create_pod(rs)
        pods_rt = self.api.registry.by_key(POD_KEY)
        for pod in sorted(active, key=_deletion_rank)[: max(-diff, 0)]:
            await delete_quietly(self.api, pods_rt, pod)
            await record_event(
                self.api,
                rs,
                "Normal",
                "SuccessfulDelete",
                f"Deleted pod: {pod['metadata']['name']}",
                COMPONENT,
            )

    async def _create_pod(self, rs: Obj) -> None:
        namespace, name = ns_name(rs)
        template = rs["spec"].get("template") or {}
        template_meta = template.get("metadata") or {}
        metadata: Obj = {"generateName": f"{name}-", "ownerReferences": [controller_ref(rs)]}
        for field in ("labels", "annotations", "finalizers"):
            if template_meta.get(field):
                metadata[field] = copy.deepcopy(template_meta[field])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        try:
            created = await self.api.create(
                self.api.registry.by_key(POD_KEY), namespace, pod, WRITE
            )
        except ApiError as exc:
            if exc.code != 409:  # a generated name taken is a retry, not news
                await record_event(
                    self.api, rs, "Warning", "FailedCreate", f"Error creating: {exc}", COMPONENT
                )
            raise
        await record_event(
            self.api,
            rs,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {created['metadata']['name']}",
            COMPONENT,
        )


async def _update_status(api: Api, rs: Obj) -> float | None:
    """Write the counts ``kubectl get rs`` shows; the delay until a ready pod becomes available."""
    namespace, name = ns_name(rs)
    current = api.store.get(RS_KEY, namespace, name)
    if current is None:
        return None
    pods = [
        p for p in api.store.objects(POD_KEY, namespace) if controlled_by(p, rs) and pod_active(p)
    ]
    template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    now = time.time()
    ready_for = [now - since for p in pods if (since := ready_since(p)) is not None]
    status = {
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(
            1
            for p in pods
            if (p["metadata"].get("labels") or {}).items() >= template_labels.items()
        ),
        "readyReplicas": len(ready_for),
        "availableReplicas": sum(1 for age in ready_for if age >= min_ready),
        "observedGeneration": current["metadata"].get("generation", 1),
    }
    # As upstream's omitempty: zero counts are left out, replicas always shown.
    status = {k: v for k, v in status.items() if v or k == "replicas"}
    if current.get("status") != status:
        await write_status(api, RS_KEY, current, status)
    waits = [min_ready - age for age in ready_for if age < min_ready]
    return max(min(waits), 0.05) if waits else None
