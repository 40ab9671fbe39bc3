"""Deployments roll ReplicaSets, as upstream's controller does.

The template's hash names the ReplicaSet that runs it (label
``pod-template-hash``), so changing the template creates a new one and
changing it back (``kubectl rollout undo``) reuses the old one. A rolling
update scales the new ReplicaSet up within ``maxSurge`` and the old ones down
within ``maxUnavailable``; status stays true so ``kubectl rollout status``
and ``kubectl wait`` can trust it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Any

from labplatform.clusters.embedded.apiserver.api import Api, now_rfc3339
from labplatform.clusters.embedded.apiserver.controllers.base import (
    ControllerSpec,
    Item,
    own_item,
    owner_items,
)
from labplatform.clusters.embedded.apiserver.controllers.replicasets import (
    RS_KEY,
    controller_ref,
    owned_by,
)
from labplatform.clusters.embedded.apiserver.store import Change, Obj

DEPLOY_KEY = "apps/deployments"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Obj) -> str:
    """A short, stable, DNS-safe hash of a pod template."""
    digest = int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16], 16)
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(_SAFE))
        chars.append(_SAFE[index])
    return "".join(chars)


def _resolve(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def _revision(rs: Obj) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def _items(api: Api, change: Change) -> list[Item]:
    if change.key == DEPLOY_KEY:
        return own_item(change)
    return owner_items(change, "Deployment")


def _all(api: Api) -> list[Item]:
    return [
        (d["metadata"]["namespace"], d["metadata"]["name"]) for d in api.store.objects(DEPLOY_KEY)
    ]


async def _scale(api: Api, deploy: Obj, rs: Obj, replicas: int) -> Obj:
    before = int(rs["spec"].get("replicas", 0))
    if before == replicas:
        return rs
    updated = copy.deepcopy(rs)
    updated["spec"]["replicas"] = replicas
    annotations = updated["metadata"].setdefault("annotations", {})
    annotations["deployment.kubernetes.io/desired-replicas"] = str(deploy["spec"]["replicas"])
    rs_rt = api.registry.by_key(RS_KEY)
    result = await api.update(rs_rt, rs["metadata"]["namespace"], rs["metadata"]["name"], updated)
    direction = "up" if replicas > before else "down"
    await api.record_event(
        deploy,
        "Normal",
        "ScalingReplicaSet",
        f"Scaled {direction} replica set {rs['metadata']['name']} to {replicas} from {before}",
        "deployment-controller",
    )
    return result


async def _reconcile(api: Api, item: Item) -> float | None:
    namespace, name = item
    deploy = api.store.get(DEPLOY_KEY, namespace, name)
    if deploy is None or deploy["metadata"].get("deletionTimestamp"):
        return None
    spec = deploy["spec"]
    uid = deploy["metadata"]["uid"]
    owned = [rs for rs in api.store.objects(RS_KEY, namespace) if owned_by(rs, uid)]
    current_hash = template_hash(spec["template"])
    new = next(
        (rs for rs in owned if rs["metadata"]["labels"].get(HASH_LABEL) == current_hash), None
    )
    old = sorted((rs for rs in owned if rs is not new), key=_revision)
    max_revision = max((_revision(rs) for rs in owned), default=0)
    rs_rt = api.registry.by_key(RS_KEY)
    desired = int(spec.get("replicas", 1))
    if new is None:
        new = await api.create(
            rs_rt, namespace, _new_replicaset(deploy, current_hash, max_revision + 1)
        )
    elif _revision(new) < max_revision:  # an old template came back: it is the newest revision
        bumped = copy.deepcopy(new)
        bumped["metadata"].setdefault("annotations", {})[REVISION] = str(max_revision + 1)
        new = await api.update(rs_rt, namespace, new["metadata"]["name"], bumped)
    deploy = await _annotate_revision(api, deploy, _revision(new))
    if not spec.get("paused"):
        if spec.get("strategy", {}).get("type") == "Recreate":
            new = await _recreate(api, deploy, new, old, desired)
        else:
            new = await _roll(api, deploy, new, old, desired)
        await _prune(api, deploy, old)
    await _update_status(api, deploy, new)
    return None


def _new_replicaset(deploy: Obj, hash_: str, revision: int) -> Obj:
    template = copy.deepcopy(deploy["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
    selector = copy.deepcopy(deploy["spec"]["selector"])
    selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deploy['metadata']['name']}-{hash_}",
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {
                REVISION: str(revision),
                "deployment.kubernetes.io/desired-replicas": str(deploy["spec"]["replicas"]),
            },
            "ownerReferences": [controller_ref(deploy)],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": deploy["spec"].get("minReadySeconds", 0),
            "selector": selector,
            "template": template,
        },
    }


async def _annotate_revision(api: Api, deploy: Obj, revision: int) -> Obj:
    annotations = deploy["metadata"].get("annotations") or {}
    if annotations.get(REVISION) == str(revision):
        return deploy
    updated = copy.deepcopy(deploy)
    updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
    deploy_rt = api.registry.by_key(DEPLOY_KEY)
    meta = deploy["metadata"]
    return await api.update(deploy_rt, meta["namespace"], meta["name"], updated)


def _spec_replicas(rs: Obj) -> int:
    return int(rs["spec"].get("replicas", 0))


def _available(rs: Obj) -> int:
    return int(rs.get("status", {}).get("availableReplicas", 0))


async def _recreate(api: Api, deploy: Obj, new: Obj, old: list[Obj], desired: int) -> Obj:
    for rs in old:
        await _scale(api, deploy, rs, 0)
    if any(rs.get("status", {}).get("replicas", 0) for rs in old):
        return new  # wait until the old pods are gone
    return await _scale(api, deploy, new, desired)


async def _roll(api: Api, deploy: Obj, new: Obj, old: list[Obj], desired: int) -> Obj:
    rolling = deploy["spec"].get("strategy", {}).get("rollingUpdate") or {}
    surge = _resolve(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    total = _spec_replicas(new) + sum(_spec_replicas(rs) for rs in old)
    if _spec_replicas(new) > desired:
        new = await _scale(api, deploy, new, desired)
    elif _spec_replicas(new) < desired:
        room = desired + surge - total
        if room > 0:
            new = await _scale(api, deploy, new, min(desired, _spec_replicas(new) + room))
    min_available = desired - unavailable
    all_pods = _spec_replicas(new) + sum(_spec_replicas(rs) for rs in old)
    new_unavailable = _spec_replicas(new) - _available(new)
    budget = all_pods - min_available - new_unavailable
    for index, rs in enumerate(old):  # unhealthy old pods go first
        unhealthy = _spec_replicas(rs) - _available(rs)
        cut = min(unhealthy, max(budget, 0))
        if cut > 0:
            old[index] = await _scale(api, deploy, rs, _spec_replicas(rs) - cut)
            budget -= cut
    available = _available(new) + sum(_available(rs) for rs in old)
    budget = available - min_available
    for rs in old:
        cut = min(_spec_replicas(rs), max(budget, 0))
        if cut > 0:
            await _scale(api, deploy, rs, _spec_replicas(rs) - cut)
            budget -= cut
    return new


async def _prune(api: Api, deploy: Obj, old: list[Obj]) -> None:
    limit = int(deploy["spec"].get("revisionHistoryLimit", 10))
    idle = [rs for rs in old if not _spec_replicas(rs) and not rs.get("status", {}).get("replicas")]
    rs_rt = api.registry.by_key(RS_KEY)
    for rs in idle[: max(len(idle) - limit, 0)]:
        await api.delete(rs_rt, rs["metadata"]["namespace"], rs["metadata"]["name"])


def _condition(previous: list[Obj], kind: str, status: str, reason: str, message: str) -> Obj:
    stamp = now_rfc3339()
    before = next((c for c in previous if c.get("type") == kind), None)
    transition = (
        before["lastTransitionTime"] if before and before.get("status") == status else stamp
    )
    updated = stamp
    if before and (before.get("status"), before.get("reason")) == (status, reason):
        updated = before.get("lastUpdateTime", stamp)
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": updated,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


async def _update_status(api: Api, deploy: Obj, new: Obj) -> None:
    meta = deploy["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    owned = [rs for rs in api.store.objects(RS_KEY, namespace) if owned_by(rs, uid)]
    new = next((rs for rs in owned if rs["metadata"]["name"] == new["metadata"]["name"]), new)
    desired = int(deploy["spec"].get("replicas", 1))
    replicas = sum(rs.get("status", {}).get("replicas", 0) for rs in owned)
    available = sum(_available(rs) for rs in owned)
    updated = new.get("status", {}).get("replicas", 0)
    rolling = deploy["spec"].get("strategy", {}).get("rollingUpdate") or {}
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    previous = deploy.get("status", {}).get("conditions") or []
    rs_name = new["metadata"]["name"]
    complete = updated == desired == replicas == available
    conditions = [
        _condition(
            previous,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
        if available >= desired - unavailable
        else _condition(
            previous,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        ),
        _condition(
            previous,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
        )
        if complete
        else _condition(
            previous,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
        ),
    ]
    status = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": sum(rs.get("status", {}).get("readyReplicas", 0) for rs in owned),
        "availableReplicas": available,
        "unavailableReplicas": max(replicas - available, desired - available, 0),
        "conditions": conditions,
    }
    status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
    current = api.store.get(DEPLOY_KEY, namespace, meta["name"])
    if current is None:
        return
    comparable = {k: v for k, v in (current.get("status") or {}).items()}
    if _without_times(comparable) == _without_times(status):
        return
    current["status"] = status
    await api.update(
        api.registry.by_key(DEPLOY_KEY), namespace, meta["name"], current, subresource="status"
    )


def _without_times(status: Obj) -> Obj:
    conditions = [
        {k: v for k, v in c.items() if k not in ("lastUpdateTime", "lastTransitionTime")}
        for c in status.get("conditions") or []
    ]
    return {**status, "conditions": conditions}


DEPLOYMENTS = ControllerSpec("deployment", (DEPLOY_KEY, RS_KEY), _items, _all, _reconcile)
