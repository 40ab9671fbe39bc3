"""Garbage collection by ownerReferences: dependents follow their owners.

When an owner is gone its dependents are deleted (background propagation),
unless another owner of theirs still lives. An owner deleted with
``propagationPolicy=Orphan`` carries the ``orphan`` finalizer: its
dependents lose the reference and stay. ``Foreground`` carries
``foregroundDeletion``: dependents go first, then the owner.
"""

from __future__ import annotations

import copy

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import ControllerSpec, Item
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.registry import ResourceType
from labplatform.clusters.embedded.apiserver.store import Change, Obj

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
WAIT_SECONDS = 0.5


def _items(api: Api, change: Change) -> list[Item]:
    """The owner to look at: the changed object itself, and the owners it names."""
    meta = change.obj["metadata"]
    items = [(change.key, meta.get("namespace", "") + "/" + meta["name"])]
    if change.type == "DELETED" or meta.get("deletionTimestamp"):
        items.append(("uid", meta.get("uid", "")))
    for ref in meta.get("ownerReferences") or []:
        items.append(("uid", ref.get("uid", "")))
    return items


def _all(api: Api) -> list[Item]:
    """At start: every owner anything refers to, so dependents of owners lost in a crash go."""
    owners = {
        ref.get("uid", "")
        for resource in api.registry
        for obj in api.store.objects(resource.key)
        for ref in obj["metadata"].get("ownerReferences") or []
    }
    return [("uid", uid) for uid in owners]


def _find_uid(api: Api, uid: str) -> tuple[ResourceType, Obj] | None:
    for resource in api.registry:
        for obj in api.store.objects(resource.key):
            if obj["metadata"].get("uid") == uid:
                return resource, obj
    return None


def _dependents(api: Api, uid: str) -> list[tuple[ResourceType, Obj]]:
    return [
        (resource, obj)
        for resource in api.registry
        for obj in api.store.objects(resource.key)
        if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
    ]


async def _delete(api: Api, resource: ResourceType, obj: Obj, propagation: str | None) -> None:
    meta = obj["metadata"]
    try:
        await api.delete(resource, meta.get("namespace", ""), meta["name"], propagation=propagation)
    except ApiError as exc:
        if exc.code != 404:
            raise


async def _reconcile(api: Api, item: Item) -> float | None:
    kind, ident = item
    if kind != "uid":
        return await _finalize(api, kind, ident)
    found = _find_uid(api, ident)
    if found is not None and not found[1]["metadata"].get("deletionTimestamp"):
        return None  # the owner lives
    for resource, dependent in _dependents(api, ident):
        refs = dependent["metadata"].get("ownerReferences") or []
        others_alive = any(
            ref.get("uid") != ident and _find_uid(api, ref.get("uid", "")) is not None
            for ref in refs
        )
        if (
            found is None
            and not others_alive
            and not dependent["metadata"].get("deletionTimestamp")
        ):
            await _delete(api, resource, dependent, None)
    if found is not None:
        return await _finalize_owner(api, *found)
    return None


async def _finalize(api: Api, key: str, ident: str) -> float | None:
    namespace, _, name = ident.partition("/")
    obj = api.store.get(key, namespace, name)
    if obj is None or not obj["metadata"].get("deletionTimestamp"):
        return None
    return await _finalize_owner(api, api.registry.by_key(key), obj)


async def _finalize_owner(api: Api, resource: ResourceType, owner: Obj) -> float | None:
    meta = owner["metadata"]
    finalizers = meta.get("finalizers") or []
    uid = meta["uid"]
    if ORPHAN in finalizers:
        for dep_resource, dependent in _dependents(api, uid):
            updated = copy.deepcopy(dependent)
            updated["metadata"]["ownerReferences"] = [
                r for r in dependent["metadata"]["ownerReferences"] if r.get("uid") != uid
            ]
            dmeta = dependent["metadata"]
            await api.update(dep_resource, dmeta.get("namespace", ""), dmeta["name"], updated)
        await _drop_finalizer(api, resource, owner, ORPHAN)
        return None
    if FOREGROUND in finalizers:
        dependents = _dependents(api, uid)
        for dep_resource, dependent in dependents:
            if not dependent["metadata"].get("deletionTimestamp"):
                await _delete(api, dep_resource, dependent, "Foreground")
        if dependents:
            return WAIT_SECONDS
        await _drop_finalizer(api, resource, owner, FOREGROUND)
    return None


async def _drop_finalizer(api: Api, resource: ResourceType, owner: Obj, name: str) -> None:
    updated = copy.deepcopy(owner)
    updated["metadata"]["finalizers"] = [f for f in owner["metadata"]["finalizers"] if f != name]
    meta = owner["metadata"]
    await api.update(resource, meta.get("namespace", ""), meta["name"], updated)


GARBAGE = ControllerSpec("garbage-collector", None, _items, _all, _reconcile)
