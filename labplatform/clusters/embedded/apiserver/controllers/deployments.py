"""Deployments roll ReplicaSets, as upstream's deployment controller does.

The new ReplicaSet is the one whose pod template equals the Deployment's
(ignoring ``pod-template-hash``), so changing the template back, which is
what client-side ``kubectl rollout undo`` does, reuses the old ReplicaSet
under a new revision instead of creating another. A new one is named
``<deployment>-<hash>`` after a stable hash of the template, which it also
carries as the ``pod-template-hash`` label on its selector, template and
itself.

RollingUpdate scales the new ReplicaSet up within ``maxSurge`` and the old
ones down within ``maxUnavailable``, exactly by upstream's arithmetic
(surge rounds up, unavailability down, both zero means one may be
unavailable); Recreate scales the old ones to zero and waits for their pods
to be gone. A change of ``replicas`` alone, or any change while paused, is
a scaling event: the active ReplicaSets are resized in proportion and no
rollout starts. Status is computed from the ReplicaSets' own, so
``kubectl rollout status`` (observedGeneration >= generation, updated ==
replicas == available == spec.replicas) and ``kubectl wait
--for=condition=Available`` can trust it; the Progressing condition moves
through NewReplicaSetCreated, ReplicaSetUpdated and NewReplicaSetAvailable,
or to ProgressDeadlineExceeded.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from typing import Any

from labplatform.clusters.embedded.apiserver.api import Api, now_rfc3339
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
from labplatform.clusters.embedded.apiserver.controllers.replicasets import POD_KEY, RS_KEY
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.selectors import label_selector_from_spec
from labplatform.clusters.embedded.apiserver.store import Change, Obj

DEPLOY_KEY = "apps/deployments"
COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# A Deployment's annotations are copied onto its new ReplicaSet (``kubectl rollout
# history`` reads ``kubernetes.io/change-cause`` there), except these.
_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # upstream's SafeEncodeString alphabet: no vowels, no 0/1/3

# Condition reasons, as upstream names them.
AVAILABLE_REASON = "MinimumReplicasAvailable"
UNAVAILABLE_REASON = "MinimumReplicasUnavailable"
CREATED_REASON = "NewReplicaSetCreated"
UPDATED_REASON = "ReplicaSetUpdated"
COMPLETE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"


def template_hash(template: Obj, collisions: int = 0) -> str:
    """A short, stable, DNS-safe hash of a pod template (and the collision count, if any)."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    if collisions:
        text += str(collisions)
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(_SAFE))
        chars.append(_SAFE[index])
    return "".join(chars)


def _scaled(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percentage of ``total``, as ``intstr.GetScaledValueFromIntOrPercent``."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def fenceposts(deploy: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as replica counts; both zero would deadlock, so one may go."""
    strategy = deploy["spec"].get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    desired = _replicas(deploy)
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    return surge, (unavailable if surge or unavailable else 1)


def _max_unavailable(deploy: Obj) -> int:
    desired = _replicas(deploy)
    return min(fenceposts(deploy)[1], desired) if desired else 0


def _replicas(obj: Obj) -> int:
    return int(obj["spec"].get("replicas", 1))


def _count(rs: Obj, field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0))


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _created(obj: Obj) -> tuple[str, str]:
    return (obj["metadata"].get("creationTimestamp", ""), obj["metadata"]["name"])


def _without_hash(template: Obj) -> Obj:
    template = copy.deepcopy(template)
    (template.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return template


def _same_template(rs: Obj, deploy: Obj) -> bool:
    return _without_hash(rs["spec"].get("template") or {}) == _without_hash(
        deploy["spec"]["template"]
    )


def _condition(kind: str, status: str, reason: str, message: str) -> Obj:
    stamp = now_rfc3339()
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def _find_condition(conditions: list[Obj], kind: str) -> Obj | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def _set_condition(conditions: list[Obj], condition: Obj) -> None:
    """Upstream's ``SetDeploymentCondition``: same status and reason is no change."""
    current = _find_condition(conditions, condition["type"])
    if current is not None:
        if (current.get("status"), current.get("reason")) == (
            condition["status"],
            condition["reason"],
        ):
            return
        if current.get("status") == condition["status"]:
            condition["lastTransitionTime"] = current["lastTransitionTime"]
    conditions[:] = [c for c in conditions if c.get("type") != condition["type"]] + [condition]


class Deployments(Reconciler[NsName]):
    name = "deployment-controller"
    watches = frozenset({DEPLOY_KEY, RS_KEY, POD_KEY})

    def items_for(self, change: Change) -> list[NsName]:
        if change.key == DEPLOY_KEY:
            return [ns_name(change.obj)]
        if change.key == RS_KEY:
            items = controller_items(change.obj, "Deployment")
            items += controller_items(change.previous, "Deployment")
            if change.type != "DELETED" and controller_of(change.obj) is None:
                items += selecting(
                    self.api, DEPLOY_KEY, change.obj
                )  # an orphan a Deployment may adopt
            return items
        # A pod gone or finished may be what a Recreate rollout is waiting for.
        phase = (change.obj.get("status") or {}).get("phase")
        if change.type == "DELETED" or phase in ("Succeeded", "Failed"):
            return [
                item
                for namespace, name in controller_items(change.obj, "ReplicaSet")
                for item in controller_items(
                    self.api.store.get(RS_KEY, namespace, name), "Deployment"
                )
            ]
        return []

    def all_items(self) -> list[NsName]:
        return [ns_name(d) for d in self.api.store.objects(DEPLOY_KEY)]

    async def reconcile(self, item: NsName) -> float | None:
        namespace, name = item
        deploy = self.api.store.get(DEPLOY_KEY, namespace, name)
        if deploy is None:
            return None
        candidates = list(self.api.store.objects(RS_KEY, namespace))
        if deploy["metadata"].get("deletionTimestamp"):
            rollout = _Rollout(
                self.api, deploy, [rs for rs in candidates if controlled_by(rs, deploy)]
            )
            await rollout.sync_status(progress=False)
            return None
        selector = label_selector_from_spec(deploy["spec"].get("selector"))
        rs_rt = self.api.registry.by_key(RS_KEY)
        rollout = _Rollout(
            self.api, deploy, await claim(self.api, deploy, rs_rt, candidates, selector)
        )
        paused = bool(deploy["spec"].get("paused"))
        if paused or rollout.scaling_event():
            await rollout.sync_new_replicaset()
            await rollout.scale_proportionally()
            if paused:
                await rollout.cleanup()
            await rollout.sync_status(progress=False)
            return None
        if (deploy["spec"].get("strategy") or {}).get("type") == "Recreate":
            await rollout.recreate()
        else:
            await rollout.roll()
        status = await rollout.sync_status(progress=True)
        if _complete(deploy, status):
            await rollout.cleanup()
        return _deadline_wait(deploy, status)


class _Rollout:
    """One pass over one Deployment and the ReplicaSets it controls."""

    def __init__(self, api: Api, deploy: Obj, replicasets: list[Obj]) -> None:
        self.api = api
        self.deploy = deploy
        self.namespace = deploy["metadata"]["namespace"]
        self.rs_rt = api.registry.by_key(RS_KEY)
        self.replicasets = {rs["metadata"]["name"]: rs for rs in replicasets}
        matching = sorted((rs for rs in replicasets if _same_template(rs, deploy)), key=_created)
        self.new_name: str | None = matching[0]["metadata"]["name"] if matching else None
        self.created = False
        self.desired = _replicas(deploy)
        self.surge, self.unavailable = fenceposts(deploy)

    @property
    def new(self) -> Obj | None:
        return self.replicasets.get(self.new_name) if self.new_name else None

    @property
    def olds(self) -> list[Obj]:
        """The old ReplicaSets, oldest first."""
        return sorted(
            (rs for n, rs in self.replicasets.items() if n != self.new_name), key=_created
        )

    def _all(self) -> list[Obj]:
        return list(self.replicasets.values())

    # -- the new ReplicaSet and revisions ----------------------------------

    def scaling_event(self) -> bool:
        """Some active ReplicaSet was sized for a different ``replicas``."""
        return any(
            (rs["metadata"].get("annotations") or {}).get(DESIRED, str(self.desired))
            != str(self.desired)
            for rs in self._all()
            if _replicas(rs)
        )

    async def sync_new_replicaset(self, create_with: int | None = None) -> None:
        """Bring the new ReplicaSet's annotations up to date, or create it with ``create_with``."""
        revision = max((_revision(rs) for rs in self.olds), default=0) + 1
        new = self.new
        if new is None:
            if create_with is not None:
                await self._create_new(revision, create_with)
        else:
            updated = copy.deepcopy(new)
            annotations = updated["metadata"].setdefault("annotations", {})
            annotations.update(self._copied_annotations())
            if _revision(new) < revision:  # an old template came back: it is the newest revision
                if REVISION in annotations:
                    history = annotations.get(REVISION_HISTORY, "")
                    annotations[REVISION_HISTORY] = ",".join(
                        filter(None, [history, annotations[REVISION]])
                    )
                annotations[REVISION] = str(revision)
            updated["spec"]["minReadySeconds"] = self.deploy["spec"].get("minReadySeconds", 0)
            if updated != new:
                self._put(await self._update(updated))
        if self.new is not None:
            await self._set_deployment_revision(str(_revision(self.new)))

    def _copied_annotations(self) -> dict[str, str]:
        annotations = self.deploy["metadata"].get("annotations") or {}
        return {k: v for k, v in annotations.items() if k not in _NOT_COPIED}

    async def _create_new(self, revision: int, replicas: int) -> None:
        deploy, meta = self.deploy, self.deploy["metadata"]
        collisions = int((deploy.get("status") or {}).get("collisionCount", 0))
        hash_ = template_hash(deploy["spec"]["template"], collisions)
        template = copy.deepcopy(deploy["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(deploy["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        name = f"{meta['name']}-{hash_}"
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    **self._copied_annotations(),
                    REVISION: str(revision),
                    DESIRED: str(self.desired),
                    MAX_REPLICAS: str(self.desired + self.surge),
                },
                "ownerReferences": [controller_ref(deploy)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": deploy["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = await self.api.create(self.rs_rt, self.namespace, body, WRITE)
        except ApiError as exc:
            if exc.reason == "AlreadyExists":
                await self._count_collision(name)
            raise
        self._put(created)
        self.new_name, self.created = name, True
        if replicas:
            await self._event(f"Scaled up replica set {name} to {replicas}")

    async def _count_collision(self, name: str) -> None:
        """Another ReplicaSet has the name: count it, so the next pass hashes differently."""
        current = self.api.store.get(DEPLOY_KEY, self.namespace, self.deploy["metadata"]["name"])
        if current is None:
            return
        status = current.setdefault("status", {})
        status["collisionCount"] = int(status.get("collisionCount", 0)) + 1
        await write_status(self.api, DEPLOY_KEY, current, status)

    async def _set_deployment_revision(self, revision: str) -> None:
        if (self.deploy["metadata"].get("annotations") or {}).get(REVISION) == revision:
            return
        updated = copy.deepcopy(self.deploy)
        updated["metadata"].setdefault("annotations", {})[REVISION] = revision
        self.deploy = await self.api.update(
            self.api.registry.by_key(DEPLOY_KEY),
            self.namespace,
            updated["metadata"]["name"],
            updated,
            opts=WRITE,
        )

    # -- scaling -------------------------------------------------------------

    async def scale(self, rs: Obj, replicas: int) -> None:
        """Resize one ReplicaSet, keeping its desired/max annotations in step."""
        before = _replicas(rs)
        wanted = {DESIRED: str(self.desired), MAX_REPLICAS: str(self.desired + self.surge)}
        annotations = rs["metadata"].get("annotations") or {}
        if before == replicas and all(annotations.get(k) == v for k, v in wanted.items()):
            return
        updated = copy.deepcopy(rs)
        updated["spec"]["replicas"] = replicas
        updated["metadata"].setdefault("annotations", {}).update(wanted)
        self._put(await self._update(updated))
        if before != replicas:
            direction = "up" if replicas > before else "down"
            await self._event(
                f"Scaled {direction} replica set {rs['metadata']['name']} to {replicas} "
                f"from {before}"
            )

    async def roll(self) -> None:
        """One step of a RollingUpdate: scale the new ReplicaSet up, or the old ones down."""
        await self.sync_new_replicaset(create_with=self._new_target())
        new = self.new
        assert new is not None
        target = self._new_target()
        if target != _replicas(new):
            await self.scale(new, target)
            return  # as upstream: the old ones wait for the next pass, after the status
        await self._scale_down_olds()

    def _new_target(self) -> int:
        """Upstream's ``NewRSNewReplicas``: as many as fit within desired + maxSurge."""
        current = _replicas(self.new) if self.new is not None else 0
        if current >= self.desired:
            return self.desired
        room = self.desired + self.surge - sum(_replicas(rs) for rs in self._all())
        return current + max(0, min(room, self.desired - current))

    async def _scale_down_olds(self) -> None:
        """Upstream's ``reconcileOldReplicaSets``: never below desired - maxUnavailable."""
        olds, new = self.olds, self.new
        assert new is not None
        if not sum(_replicas(rs) for rs in olds):
            return
        min_available = self.desired - self.unavailable
        new_unavailable = _replicas(new) - _count(new, "availableReplicas")
        budget = sum(_replicas(rs) for rs in self._all()) - min_available - new_unavailable
        if budget <= 0:
            return
        for rs in olds:  # unhealthy old pods first: removing them costs no availability
            unhealthy = _replicas(rs) - _count(rs, "availableReplicas")
            cut = min(budget, max(unhealthy, 0))
            if cut > 0:
                await self.scale(rs, _replicas(rs) - cut)
                budget -= cut
            if budget <= 0:
                break
        # An old ReplicaSet just scaled down may still report the pods it is removing as
        # available; it never has more available than it is asked to run.
        available = sum(min(_count(rs, "availableReplicas"), _replicas(rs)) for rs in self._all())
        excess = available - min_available
        for rs in self.olds:
            cut = min(excess, _replicas(rs))
            if cut > 0:
                await self.scale(rs, _replicas(rs) - cut)
                excess -= cut

    async def recreate(self) -> None:
        """Recreate: old ReplicaSets to zero, wait for their pods to be gone, then the new one."""
        active = [rs for rs in self.olds if _replicas(rs)]
        for rs in active:
            await self.scale(rs, 0)
        if active or self._old_pods_running():
            await self.sync_new_replicaset()
            return
        await self.sync_new_replicaset(create_with=self.desired)
        new = self.new
        assert new is not None
        await self.scale(new, self.desired)

    def _old_pods_running(self) -> bool:
        if any(_count(rs, "replicas") for rs in self.olds):
            return True
        old_uids = {rs["metadata"]["uid"] for rs in self.olds}
        return any(
            (controller_of(pod) or {}).get("uid") in old_uids
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            for pod in self.api.store.objects(POD_KEY, self.namespace)
        )

    async def scale_proportionally(self) -> None:
        """Upstream's ``scale``: a change of replicas spread over the active ReplicaSets."""
        active = [rs for rs in self._all() if _replicas(rs)]
        if len(active) <= 1:
            latest = active or ([self.new] if self.new else self.olds[-1:])
            for rs in latest:
                await self.scale(rs, self.desired)
            return
        new = self.new
        if (
            new is not None
            and _replicas(new) == self.desired
            and _count(new, "availableReplicas") == self.desired
        ):
            for rs in self.olds:
                await self.scale(rs, 0)
            return
        total = sum(_replicas(rs) for rs in active)
        difference = (self.desired + self.surge if self.desired else 0) - total
        shares = {rs["metadata"]["name"]: int(difference * _replicas(rs) / total) for rs in active}
        largest = max(active, key=lambda rs: (_replicas(rs), _created(rs)))
        shares[largest["metadata"]["name"]] += difference - sum(shares.values())
        for rs in active:
            await self.scale(rs, max(_replicas(rs) + shares[rs["metadata"]["name"]], 0))

    async def cleanup(self) -> None:
        """Delete the oldest idle ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = self.deploy["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in self.olds if not rs["metadata"].get("deletionTimestamp")]
        for rs in sorted(alive, key=_revision)[: max(len(alive) - int(limit), 0)]:
            settled = _count(rs, "observedGeneration") >= rs["metadata"].get("generation", 1)
            if not _replicas(rs) and not _count(rs, "replicas") and settled:
                await delete_quietly(self.api, self.rs_rt, rs)

    # -- status ----------------------------------------------------------------

    async def sync_status(self, progress: bool) -> Obj:
        """Write the status ``kubectl rollout status`` reads; returns it."""
        deploy = self.deploy
        current = self.api.store.get(DEPLOY_KEY, self.namespace, deploy["metadata"]["name"])
        if current is None:
            return {}
        previous = current.get("status") or {}
        replicasets = [
            fresh
            for name in self.replicasets
            if (fresh := self.api.store.get(RS_KEY, self.namespace, name)) is not None
        ]
        new = next((rs for rs in replicasets if rs["metadata"]["name"] == self.new_name), None)
        available = sum(_count(rs, "availableReplicas") for rs in replicasets)
        status: Obj = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": sum(_count(rs, "replicas") for rs in replicasets),
            "updatedReplicas": _count(new, "replicas") if new else 0,
            "readyReplicas": sum(_count(rs, "readyReplicas") for rs in replicasets),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(_replicas(rs) for rs in replicasets) - available, 0),
            "collisionCount": previous.get("collisionCount", 0),
        }
        status = {k: v for k, v in status.items() if v}
        conditions = copy.deepcopy(previous.get("conditions") or [])
        if available >= self.desired - _max_unavailable(deploy):
            _set_condition(
                conditions,
                _condition(
                    "Available", "True", AVAILABLE_REASON, "Deployment has minimum availability."
                ),
            )
        else:
            _set_condition(
                conditions,
                _condition(
                    "Available",
                    "False",
                    UNAVAILABLE_REASON,
                    "Deployment does not have minimum availability.",
                ),
            )
        self._pause_conditions(conditions)
        if progress:
            self._progress_conditions(conditions, previous, status)
        status["conditions"] = conditions
        if status != previous:
            await write_status(self.api, DEPLOY_KEY, current, status)
        return status

    def _pause_conditions(self, conditions: list[Obj]) -> None:
        current = _find_condition(conditions, "Progressing")
        reason = current.get("reason") if current else None
        if reason == TIMED_OUT_REASON:
            return  # a reported lack of progress is not overwritten
        if self.deploy["spec"].get("paused") and reason != PAUSED_REASON:
            _set_condition(
                conditions,
                _condition("Progressing", "Unknown", PAUSED_REASON, "Deployment is paused"),
            )
        elif not self.deploy["spec"].get("paused") and reason == PAUSED_REASON:
            _set_condition(
                conditions,
                _condition("Progressing", "Unknown", RESUMED_REASON, "Deployment is resumed"),
            )

    def _progress_conditions(self, conditions: list[Obj], previous: Obj, status: Obj) -> None:
        """Upstream's ``syncRolloutStatus``: the Progressing condition of a rollout."""
        deadline = _progress_deadline(self.deploy)
        if deadline is None:
            conditions[:] = [c for c in conditions if c.get("type") != "Progressing"]
            return
        if self.created:
            message = f'Created new replica set "{self.new_name}"'
            _set_condition(conditions, _condition("Progressing", "True", CREATED_REASON, message))
        current = _find_condition(conditions, "Progressing")
        if (
            status.get("replicas", 0) == status.get("updatedReplicas", 0)
            and current is not None
            and current.get("reason") == COMPLETE_REASON
        ):
            return  # a finished rollout: a resync or a scaling event is not progress
        subject = (
            f'ReplicaSet "{self.new_name}"'
            if self.new_name
            else f'Deployment "{self.deploy["metadata"]["name"]}"'
        )
        if _complete(self.deploy, status):
            _set_condition(
                conditions,
                _condition(
                    "Progressing",
                    "True",
                    COMPLETE_REASON,
                    f"{subject} has successfully progressed.",
                ),
            )
        elif _progressing(previous, status):
            condition = _condition(
                "Progressing", "True", UPDATED_REASON, f"{subject} is progressing."
            )
            if current is not None and current.get("status") == "True":
                condition["lastTransitionTime"] = current["lastTransitionTime"]
            conditions[:] = [c for c in conditions if c.get("type") != "Progressing"] + [condition]
        elif _timed_out(conditions, deadline):
            _set_condition(
                conditions,
                _condition(
                    "Progressing",
                    "False",
                    TIMED_OUT_REASON,
                    f"{subject} has timed out progressing.",
                ),
            )

    # -- plumbing --------------------------------------------------------------

    def _put(self, rs: Obj) -> None:
        self.replicasets[rs["metadata"]["name"]] = rs

    async def _update(self, rs: Obj) -> Obj:
        return await self.api.update(
            self.rs_rt, self.namespace, rs["metadata"]["name"], rs, opts=WRITE
        )

    async def _event(self, message: str) -> None:
        await record_event(self.api, self.deploy, "Normal", "ScalingReplicaSet", message, COMPONENT)


def _complete(deploy: Obj, status: Obj) -> bool:
    """What ``kubectl rollout status`` waits for."""
    desired = _replicas(deploy)
    return (
        status.get("updatedReplicas", 0) == desired
        and status.get("replicas", 0) == desired
        and status.get("availableReplicas", 0) == desired
        and int(status.get("observedGeneration", 0)) >= int(deploy["metadata"].get("generation", 1))
    )


def _progressing(previous: Obj, status: Obj) -> bool:
    """Upstream's ``DeploymentProgressing``: more updated, ready or available, or fewer old."""

    def old_pods(s: Obj) -> int:
        return int(s.get("replicas", 0)) - int(s.get("updatedReplicas", 0))

    return (
        status.get("updatedReplicas", 0) > previous.get("updatedReplicas", 0)
        or old_pods(status) < old_pods(previous)
        or status.get("readyReplicas", 0) > previous.get("readyReplicas", 0)
        or status.get("availableReplicas", 0) > previous.get("availableReplicas", 0)
    )


def _timed_out(conditions: list[Obj], deadline: int) -> bool:
    condition = _find_condition(conditions, "Progressing")
    if condition is None or condition.get("reason") == COMPLETE_REASON:
        return False
    if condition.get("reason") == TIMED_OUT_REASON:
        return True
    return parse_time(condition["lastUpdateTime"]) + deadline < time.time()


def _progress_deadline(deploy: Obj) -> int | None:
    """``progressDeadlineSeconds``; None (or MaxInt32, as upstream) means no deadline."""
    deadline = deploy["spec"].get("progressDeadlineSeconds")
    return None if deadline is None or deadline == 2**31 - 1 else int(deadline)


def _deadline_wait(deploy: Obj, status: Obj) -> float | None:
    """When an unfinished rollout would miss its progress deadline: look again then."""
    deadline = _progress_deadline(deploy)
    condition = _find_condition(status.get("conditions") or [], "Progressing")
    if (
        deadline is None
        or condition is None
        or _complete(deploy, status)
        or condition.get("reason") in (TIMED_OUT_REASON, COMPLETE_REASON)
    ):
        return None
    return max(parse_time(condition["lastUpdateTime"]) + deadline - time.time(), 0.0) + 0.5
