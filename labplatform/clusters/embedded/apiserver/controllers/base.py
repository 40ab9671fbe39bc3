"""A small reconcile loop, the shape every in-process controller takes, and ownership helpers.

A controller (a :class:`Reconciler`) names the store keys it watches, maps
each change to work items of its own kind, and reconciles one item at a
time from a deduplicating queue: ten changes to one Deployment's pods are
one pass over that Deployment. Reconciling reads the store and writes
through :class:`~..api.Api`, so a pass only ever acts on the latest state.

A full resync at start repairs whatever a crash left half done, and a
periodic one is a safety net. Time-based conditions (availability after
``minReadySeconds``, a progress deadline) ask to be reconciled again after
a delay. A 409 Conflict or 404 means another writer got there first: the
item is requeued quietly and the next pass sees the newer state. Other
failures are logged and retried with exponential backoff, so one bad
object never stops a controller.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from labplatform.clusters.embedded.apiserver.api import Api, WriteOptions
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.registry import ResourceType
from labplatform.clusters.embedded.apiserver.selectors import (
    LabelSelector,
    label_selector_from_spec,
)
from labplatform.clusters.embedded.apiserver.store import Change, Obj, Watcher

if TYPE_CHECKING:
    from labplatform.clusters.embedded.apiserver.server import Controller

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 10.0
# managedFields name the controllers as upstream's do.
WRITE = WriteOptions(field_manager="kube-controller-manager")

NsName = tuple[str, str]  # (namespace, name): the usual work item
ItemT = TypeVar("ItemT", bound=tuple[str, ...])


class Reconciler(ABC, Generic[ItemT]):
    """One controller: what it watches, how changes become work, and the work itself.

    An instance lives as long as one run of its loop; a controller that is
    restarted gets a fresh instance and a full resync.
    """

    name: ClassVar[str]
    watches: ClassVar[frozenset[str] | None]  # store keys; None watches every kind

    def __init__(self, api: Api) -> None:
        self.api = api

    @abstractmethod
    def items_for(self, change: Change) -> Iterable[ItemT]:
        """The items a committed change may have put out of step."""

    @abstractmethod
    def all_items(self) -> Iterable[ItemT]:
        """Every item there is, for a full resync."""

    @abstractmethod
    async def reconcile(self, item: ItemT) -> float | None:
        """Bring one item to its desired state; a number asks for another pass that much later."""


def controller(cls: type[Reconciler[Any]]) -> Controller:
    """The ``async def (api)`` coroutine the API server runs (and restarts) for ``cls``."""

    async def run(api: Api) -> None:
        await _Loop(cls(api)).run()

    run.__name__ = run.__qualname__ = cls.name  # what the server's logs call it
    return run


class _Loop(Generic[ItemT]):
    """The work queue and its one worker."""

    def __init__(self, reconciler: Reconciler[ItemT]) -> None:
        self.reconciler = reconciler
        self.store = reconciler.api.store
        self.pending: dict[ItemT, None] = {}  # an ordered set: first come, first served
        self.later: dict[ItemT, float] = {}  # item -> when it is due (monotonic)
        self.failures: dict[ItemT, int] = {}

    def _watch(self) -> Watcher:
        watches = self.reconciler.watches
        return self.store.watch(lambda change: watches is None or change.key in watches)

    async def run(self) -> None:
        watcher = self._watch()
        self._add(self.reconciler.all_items())
        resync_at = time.monotonic() + RESYNC_SECONDS
        try:
            while True:
                while not watcher.queue.empty():
                    watcher = self._take(watcher, watcher.queue.get_nowait())
                now = time.monotonic()
                if now >= resync_at:
                    self._add(self.reconciler.all_items())
                    resync_at = now + RESYNC_SECONDS
                self._promote(now)
                if self.pending:
                    item = next(iter(self.pending))
                    del self.pending[item]
                    await self._reconcile(item)
                    await asyncio.sleep(0)  # let requests and other controllers in between items
                    continue
                wake = min([resync_at, *self.later.values()])
                try:
                    async with asyncio.timeout(max(wake - now, 0.0)):
                        change = await watcher.queue.get()
                except TimeoutError:
                    continue
                watcher = self._take(watcher, change)
        finally:
            watcher.close()

    def _take(self, watcher: Watcher, change: Change | None) -> Watcher:
        if change is not None:
            self._add(self.reconciler.items_for(change))
            return watcher
        # The watch fell too far behind and stopped: watch afresh, then resync everything.
        log.warning("watch overflowed; resyncing", extra={"controller": self.reconciler.name})
        watcher.close()
        fresh = self._watch()
        self._add(self.reconciler.all_items())
        return fresh

    def _add(self, items: Iterable[ItemT]) -> None:
        for item in items:
            self.pending[item] = None

    def _promote(self, now: float) -> None:
        for item, due in list(self.later.items()):
            if due <= now:
                del self.later[item]
                self.pending[item] = None

    def _requeue(self, item: ItemT, delay: float) -> None:
        due = time.monotonic() + delay
        self.later[item] = min(due, self.later.get(item, due))

    async def _reconcile(self, item: ItemT) -> None:
        name = self.reconciler.name
        started = time.monotonic()
        try:
            delay = await self.reconciler.reconcile(item)
        except ApiError as exc:
            quiet = exc.code in (404, 409)
            log.log(
                logging.DEBUG if quiet else logging.WARNING,
                "reconcile failed; retrying",
                extra={"controller": name, "item": "/".join(item), "error": str(exc)},
            )
            self._requeue(item, self._backoff(item))
            return
        except Exception:
            log.exception(
                "reconcile crashed; retrying", extra={"controller": name, "item": "/".join(item)}
            )
            self._requeue(item, self._backoff(item))
            return
        self.failures.pop(item, None)
        log.debug(
            "reconciled",
            extra={
                "controller": name,
                "item": "/".join(item),
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        if delay is not None:
            self._requeue(item, delay)

    def _backoff(self, item: ItemT) -> float:
        count = self.failures.get(item, 0)
        self.failures[item] = count + 1
        return float(min(RETRY_SECONDS * 2**count, MAX_RETRY_SECONDS))


# -- ownership ----------------------------------------------------------------


def ns_name(obj: Obj) -> NsName:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def selecting(api: Api, owner_key: str, obj: Obj) -> list[NsName]:
    """Owners of ``owner_key`` in ``obj``'s namespace whose selector matches its labels."""
    namespace, labels = ns_name(obj)[0], obj["metadata"].get("labels") or {}
    return [
        ns_name(owner)
        for owner in api.store.objects(owner_key, namespace)
        if label_selector_from_spec(owner["spec"].get("selector")).matches(labels)
    ]


def controller_ref(owner: Obj) -> Obj:
    """The ownerReference a controller puts on what it creates."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference marked ``controller``, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner["metadata"]["uid"]


def controller_items(obj: Obj | None, kind: str) -> list[NsName]:
    """The controlling owner of ``obj``, if it is a ``kind``, as a work item."""
    if obj is None or (ref := controller_of(obj)) is None or ref.get("kind") != kind:
        return []
    return [(obj["metadata"].get("namespace", ""), ref["name"])]


async def claim(
    api: Api, owner: Obj, rt: ResourceType, candidates: Iterable[Obj], selector: LabelSelector
) -> list[Obj]:
    """The objects ``owner`` controls, after adopting orphans its selector matches.

    As upstream's ``ClaimObjects``: an owned object whose labels no longer
    match is released (the classic "take a pod out of rotation by relabelling
    it"), and a matching object nobody controls is adopted. An owner being
    deleted neither adopts nor releases.
    """
    uid = owner["metadata"]["uid"]
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    claimed = []
    for obj in candidates:
        ref = controller_of(obj)
        matches = selector.matches(obj["metadata"].get("labels") or {})
        if ref is not None and ref.get("uid") == uid:
            if matches or deleting:
                claimed.append(obj)
            else:
                await set_owner_refs(api, rt, obj, [r for r in _refs(obj) if r.get("uid") != uid])
        elif (
            ref is None
            and matches
            and not deleting
            and not obj["metadata"].get("deletionTimestamp")
        ):
            claimed.append(await set_owner_refs(api, rt, obj, [*_refs(obj), controller_ref(owner)]))
    return claimed


def _refs(obj: Obj) -> list[Obj]:
    return list(obj["metadata"].get("ownerReferences") or [])


async def set_owner_refs(api: Api, rt: ResourceType, obj: Obj, refs: list[Obj]) -> Obj:
    """Write ``obj`` back with ``refs`` as its ownerReferences."""
    updated = copy.deepcopy(obj)
    if refs:
        updated["metadata"]["ownerReferences"] = refs
    else:
        updated["metadata"].pop("ownerReferences", None)
    namespace, name = ns_name(obj)
    return await api.update(rt, namespace, name, updated, opts=WRITE)


async def record_event(
    api: Api, involved: Obj, event_type: str, reason: str, message: str, component: str
) -> None:
    """An Event, best effort: as upstream's recorder, a lost event never fails the work."""
    try:
        await api.record_event(involved, event_type, reason, message, component)
    except ApiError as exc:
        log.debug("event not recorded", extra={"reason": reason, "error": str(exc)})


async def delete_quietly(
    api: Api, rt: ResourceType, obj: Obj, propagation: str | None = "Background"
) -> None:
    """Delete ``obj``; someone else having deleted it already is fine."""
    namespace, name = ns_name(obj)
    try:
        await api.delete(rt, namespace, name, propagation=propagation, opts=WRITE)
    except ApiError as exc:
        if exc.code != 404:
            raise


async def write_status(api: Api, key: str, obj: Obj, status: Obj) -> Obj:
    """Write ``status`` onto ``obj`` through the status subresource, as controllers do."""
    namespace, name = ns_name(obj)
    return await api.update(
        api.registry.by_key(key),
        namespace,
        name,
        {**obj, "status": status},
        subresource="status",
        opts=WRITE,
    )


def parse_time(stamp: str) -> float:
    """An RFC 3339 timestamp (as the API server writes them) as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
