"""A small reconcile loop, the shape every in-process controller takes.

A controller names the store keys it watches and maps each change to work
items of its own kind; items are deduplicated in a queue and reconciled one
at a time. A full resync at start repairs whatever a crash left half done,
and a periodic one catches anything time-based (availability after
``minReadySeconds``). Conflicts and vanished objects just requeue: the next
pass sees the newer state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.store import Change

log = logging.getLogger(__name__)

Item = tuple[str, str]  # (namespace, name)
RESYNC_SECONDS = 10.0
RETRY_SECONDS = 0.2


@dataclass(frozen=True)
class ControllerSpec:
    """What a controller watches, how changes become work, and the work itself."""

    name: str
    watches: tuple[str, ...] | None  # store keys; None watches every kind
    items_for: Callable[[Api, Change], Iterable[Item]]
    all_items: Callable[[Api], Iterable[Item]]
    reconcile: Callable[[Api, Item], Awaitable[float | None]]


async def run(spec: ControllerSpec, api: Api) -> None:
    """Reconcile forever; returns only when cancelled."""
    watcher = api.store.watch(lambda change: spec.watches is None or change.key in spec.watches)
    pending: set[Item] = set()
    ready = asyncio.Event()

    def enqueue(items: Iterable[Item]) -> None:
        pending.update(items)
        if pending:
            ready.set()

    async def feed() -> None:
        while True:
            change = await watcher.queue.get()
            if change is None:  # fell behind: resync everything
                enqueue(spec.all_items(api))
                watcher.overflowed = False
                continue
            enqueue(spec.items_for(api, change))

    async def requeue_later(item: Item, delay: float) -> None:
        await asyncio.sleep(delay)
        enqueue([item])

    async def resync() -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            enqueue(spec.all_items(api))

    background = [asyncio.create_task(feed()), asyncio.create_task(resync())]
    timers: set[asyncio.Task[None]] = set()
    enqueue(spec.all_items(api))
    try:
        while True:
            await ready.wait()
            ready.clear()
            while pending:
                item = pending.pop()
                try:
                    delay = await spec.reconcile(api, item)
                except ApiError as exc:
                    if exc.code not in (404, 409):
                        log.warning(
                            "reconcile failed",
                            extra={
                                "controller": spec.name,
                                "item": "/".join(item),
                                "error": str(exc),
                            },
                        )
                    delay = RETRY_SECONDS
                if delay is not None:
                    timer = asyncio.create_task(requeue_later(item, delay))
                    timers.add(timer)
                    timer.add_done_callback(timers.discard)
                await asyncio.sleep(0)  # let requests in between items
    finally:
        watcher.close()
        for task in [*background, *timers]:
            task.cancel()
        await asyncio.gather(*background, *timers, return_exceptions=True)


def owner_items(change: Change, owner_kind: str) -> list[Item]:
    """The controller owners of a changed object (a Pod's ReplicaSet...)."""
    meta = change.obj["metadata"]
    return [
        (meta.get("namespace", ""), ref["name"])
        for ref in meta.get("ownerReferences") or []
        if ref.get("kind") == owner_kind and ref.get("controller")
    ]


def own_item(change: Change) -> list[Item]:
    meta = change.obj["metadata"]
    return [(meta.get("namespace", ""), meta["name"])]
