"""Watches: a list followed by a stream of changes, resumable by resourceVersion.

A watch is registered with the store before its starting point is read, in
the same step of the event loop, so no change can fall between the initial
state and the stream. Filtered watches report an object that stops
matching as DELETED and one that starts matching as ADDED, as upstream does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.store import Change, ExpiredError, Obj, Store

BOOKMARK_INTERVAL = 30.0
DEFAULT_TIMEOUT = 1800.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class WatchRequest:
    """The watch-related query parameters of a list request."""

    key: str
    namespace: str | None
    matches: Callable[[Obj], bool]
    resource_version: str
    send_initial_events: bool
    allow_bookmarks: bool
    timeout: float

    @classmethod
    def from_query(
        cls, key: str, namespace: str | None, matches: Callable[[Obj], bool], query: Any
    ) -> WatchRequest:
        send_initial = query.get("sendInitialEvents") == "true"
        if send_initial and query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.invalid(
                "ListOptions",
                "",
                [
                    errors.Cause(
                        "FieldValueForbidden",
                        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                        "resourceVersionMatch",
                    )
                ],
                "meta.k8s.io",
            )
        timeout = query.get("timeoutSeconds")
        rv = query.get("resourceVersion", "") or ""
        if rv and not rv.isdigit():  # refused before the stream starts, while a status can
            raise errors.bad_request(f'invalid resource version "{rv}"')
        return cls(
            key=key,
            namespace=namespace,
            matches=matches,
            resource_version=rv,
            send_initial_events=send_initial,
            allow_bookmarks=query.get("allowWatchBookmarks") == "true",
            timeout=float(timeout) if timeout and timeout.isdigit() else DEFAULT_TIMEOUT,
        )


Event = tuple[str, Obj]  # (type, object): ADDED, MODIFIED, DELETED, BOOKMARK, ERROR


async def watch_events(store: Store, request: WatchRequest) -> AsyncIterator[Event]:
    """The events of one watch, until its timeout or the client leaves."""

    def in_scope(change: Change) -> bool:
        return change.key == request.key and (
            request.namespace is None or change.namespace == request.namespace
        )

    watcher = store.watch(in_scope)
    try:
        start_rv = store.resource_version
        initial: list[Event] = []
        rv = request.resource_version
        if request.send_initial_events or rv in ("", "0"):
            initial = [
                ("ADDED", obj)
                for obj in store.objects(request.key, request.namespace)
                if request.matches(obj)
            ]
            if request.send_initial_events and request.allow_bookmarks:
                initial.append(("BOOKMARK", _bookmark(start_rv, initial_events_end=True)))
        else:
            try:
                replay = store.changes_since(int(rv), in_scope)
            except ExpiredError as exc:
                yield "ERROR", errors.gone(str(exc)).status()
                return
            initial = [e for c in replay if (e := _filtered(c, request.matches)) is not None]
        for event in initial:
            yield event
        deadline = time.monotonic() + request.timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                change = await asyncio.wait_for(
                    watcher.queue.get(), min(remaining, BOOKMARK_INTERVAL)
                )
            except TimeoutError:
                if request.allow_bookmarks:
                    yield "BOOKMARK", _bookmark(store.resource_version)
                continue
            if change is None:  # the consumer fell behind: end, the client re-lists
                return
            if change.rv <= start_rv:
                continue  # already part of the initial state
            filtered = _filtered(change, request.matches)
            if filtered is not None:
                yield filtered
    finally:
        watcher.close()


def _filtered(change: Change, matches: Callable[[Obj], bool]) -> Event | None:
    now = matches(change.obj)
    if change.type == "DELETED":
        return ("DELETED", change.obj) if now else None
    before = change.previous is not None and matches(change.previous)
    if change.type == "MODIFIED" and change.previous is not None:
        if now and not before:
            return ("ADDED", change.obj)
        if before and not now:
            return ("DELETED", change.obj)
    return (change.type, change.obj) if now else None


def _bookmark(rv: int, initial_events_end: bool = False) -> Obj:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"metadata": meta}
