"""Garbage collection by ownerReferences: dependents follow their owners.

As upstream's collector, in miniature. It keeps an index from each owner's
uid to its dependents, fed by the change stream and rebuilt at every
resync. An owner is looked up the way its reference names it (kind, name,
the dependent's namespace) and must have the referenced uid; one that is
missing is *dangling*. An object whose owners are all dangling is deleted
(background propagation); one that still has a live owner just loses the
dangling references.

Deleting with ``propagationPolicy=Orphan`` leaves the ``orphan`` finalizer
on the owner: the dependents lose their references to it and stay, then
the finalizer goes and with it the owner. ``Foreground`` leaves
``foregroundDeletion``: the dependents are deleted first (in the
foreground themselves), and the owner goes once none that block it
(``blockOwnerDeletion``) remain. At start every object with owners is
checked, so dependents of owners deleted while the server was down go too.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from enum import Enum

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import (
    WRITE,
    Reconciler,
    delete_quietly,
    ns_name,
    set_owner_refs,
)
from labplatform.clusters.embedded.apiserver.registry import ResourceType
from labplatform.clusters.embedded.apiserver.store import Change, Obj

log = logging.getLogger(__name__)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

Ref = tuple[str, str, str]  # (store key, namespace, name)


class _Owner(Enum):
    SOLID = "solid"  # exists, with the referenced uid
    DANGLING = "dangling"  # gone, or replaced by a namesake
    WAITING = "waiting"  # being deleted in the foreground: its dependents go first


def _ref(key: str, obj: Obj) -> Ref:
    return (key, *ns_name(obj))


def _owner_refs(obj: Obj | None) -> list[Obj]:
    return list((obj or {}).get("metadata", {}).get("ownerReferences") or [])


def _cascading(obj: Obj) -> bool:
    """Being deleted with a propagation finalizer this collector honours."""
    meta = obj["metadata"]
    finalizers = meta.get("finalizers") or []
    return bool(meta.get("deletionTimestamp")) and (
        ORPHAN in finalizers or FOREGROUND in finalizers
    )


class GarbageCollector(Reconciler[Ref]):
    name = "garbage-collector"
    watches = None  # anything can own anything

    def __init__(self, api: Api) -> None:
        super().__init__(api)
        self._dependents: dict[str, set[Ref]] = {}  # owner uid -> dependents
        self._owner_uids: dict[Ref, set[str]] = {}  # dependent -> owner uids

    # -- the dependency index --------------------------------------------------

    def _index(self, ref: Ref, obj: Obj | None) -> None:
        for uid in self._owner_uids.pop(ref, set()):
            dependents = self._dependents.get(uid, set())
            dependents.discard(ref)
            if not dependents:
                self._dependents.pop(uid, None)
        uids = {r["uid"] for r in _owner_refs(obj) if r.get("uid")}
        if uids:
            self._owner_uids[ref] = uids
            for uid in uids:
                self._dependents.setdefault(uid, set()).add(ref)

    def _dependents_of(self, owner: Obj) -> list[Ref]:
        return sorted(self._dependents.get(owner["metadata"].get("uid", ""), ()))

    def all_items(self) -> list[Ref]:
        """Every object with owners or a propagation finalizer; rebuilds the index."""
        self._dependents.clear()
        self._owner_uids.clear()
        items = []
        for rt in self.api.registry:
            for obj in self.api.store.objects(rt.key):
                ref = _ref(rt.key, obj)
                self._index(ref, obj)
                if _owner_refs(obj) or _cascading(obj):
                    items.append(ref)
        return items

    def items_for(self, change: Change) -> list[Ref]:
        ref = _ref(change.key, change.obj)
        refs = _owner_refs(change.obj)
        if change.type == "DELETED":
            self._index(ref, None)
            # Its dependents may be orphans now; a foreground owner may have waited for it.
            return self._dependents_of(change.obj) + self._owners(change.obj)
        self._index(ref, change.obj)
        items = [ref] if refs or _cascading(change.obj) else []
        if _owner_refs(change.previous) != refs:  # an owner may be waiting on this one
            items += self._owners(change.previous) + self._owners(change.obj)
        return items

    def _owners(self, obj: Obj | None) -> list[Ref]:
        if obj is None:
            return []
        items = []
        for ref in _owner_refs(obj):
            rt = self._resource(ref)
            if rt is not None:
                items.append((rt.key, ns_name(obj)[0] if rt.namespaced else "", ref["name"]))
        return items

    def _resource_at(self, key: str) -> ResourceType | None:
        """The resource stored at ``key``; None once its CRD is gone."""
        try:
            return self.api.registry.by_key(key)
        except KeyError:
            return None

    def _resource(self, ref: Obj) -> ResourceType | None:
        api_version = str(ref.get("apiVersion", ""))
        group = api_version.split("/")[0] if "/" in api_version else ""
        return self.api.registry.by_kind(group, str(ref.get("kind", "")))

    # -- reconciling -------------------------------------------------------------

    async def reconcile(self, item: Ref) -> float | None:
        obj = self.api.store.get(*item)
        rt = self._resource_at(item[0])
        if obj is None or rt is None:
            return None
        finalizers = obj["metadata"].get("finalizers") or []
        if not obj["metadata"].get("deletionTimestamp"):
            await self._collect(rt, obj)
        elif ORPHAN in finalizers:
            await self._orphan_dependents(rt, obj)
        elif FOREGROUND in finalizers:
            await self._delete_dependents_first(rt, obj)
        return None

    def _owner_state(self, dependent: Obj, ref: Obj) -> _Owner:
        rt = self._resource(ref)
        if rt is None:
            return _Owner.SOLID  # a kind the server does not know: it cannot tell, so it keeps
        namespace = ns_name(dependent)[0] if rt.namespaced else ""
        owner = self.api.store.get(rt.key, namespace, str(ref.get("name", "")))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return _Owner.DANGLING
        if owner["metadata"].get("deletionTimestamp") and FOREGROUND in (
            owner["metadata"].get("finalizers") or []
        ):
            return _Owner.WAITING
        return _Owner.SOLID

    async def _collect(self, rt: ResourceType, obj: Obj) -> None:
        """Delete ``obj`` if all its owners are gone (or going first); else drop the dead refs."""
        refs = _owner_refs(obj)
        states = [self._owner_state(obj, ref) for ref in refs]
        if _Owner.SOLID in states:
            kept = [
                {**ref, "blockOwnerDeletion": False} if state is _Owner.WAITING else ref
                for ref, state in zip(refs, states, strict=True)
                if state is not _Owner.DANGLING
            ]
            if kept != refs:
                await set_owner_refs(self.api, rt, obj, kept)
        elif states:
            propagation = "Foreground" if _Owner.WAITING in states else "Background"
            log.debug(
                "deleting a dependent whose owners are gone",
                extra={"resource": rt.qualified, "object": "/".join(ns_name(obj))},
            )
            await delete_quietly(self.api, rt, obj, propagation=propagation)

    async def _orphan_dependents(self, rt: ResourceType, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for dependent, dependent_rt in self._live(self._dependents_of(owner)):
            kept = [ref for ref in _owner_refs(dependent) if ref.get("uid") != uid]
            await set_owner_refs(self.api, dependent_rt, dependent, kept)
        await self._drop_finalizer(rt, owner, ORPHAN)

    async def _delete_dependents_first(self, rt: ResourceType, owner: Obj) -> None:
        for dependent, dependent_rt in self._live(self._dependents_of(owner)):
            if not dependent["metadata"].get("deletionTimestamp"):
                await self._collect(dependent_rt, dependent)
        uid = owner["metadata"]["uid"]
        blocking = [
            dependent
            for dependent, _ in self._live(self._dependents_of(owner))
            if any(
                r.get("uid") == uid and r.get("blockOwnerDeletion") for r in _owner_refs(dependent)
            )
        ]
        if not blocking:  # else the DELETED of each brings the owner back here
            await self._drop_finalizer(rt, owner, FOREGROUND)

    def _live(self, refs: Iterable[Ref]) -> list[tuple[Obj, ResourceType]]:
        """The objects ``refs`` name that still exist, with their resource types."""
        found = []
        for key, namespace, name in refs:
            obj = self.api.store.get(key, namespace, name)
            rt = self._resource_at(key)
            if obj is not None and rt is not None:
                found.append((obj, rt))
        return found

    async def _drop_finalizer(self, rt: ResourceType, owner: Obj, finalizer: str) -> None:
        log.info(
            "dependents handled; removing the finalizer",
            extra={
                "resource": rt.qualified,
                "object": "/".join(ns_name(owner)),
                "finalizer": finalizer,
            },
        )
        updated = copy.deepcopy(owner)
        updated["metadata"]["finalizers"] = [
            f for f in owner["metadata"].get("finalizers") or [] if f != finalizer
        ]
        namespace, name = ns_name(owner)
        await self.api.update(rt, namespace, name, updated, opts=WRITE)
