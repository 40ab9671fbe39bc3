"""Durable object storage with resourceVersions and a replayable change log.

This is the embedded cluster's etcd. Every write gets the next
resourceVersion from one counter, is committed to SQLite before it is
acknowledged (WAL, ``synchronous=FULL``), and is appended to a change log
that watchers read. The log is kept in the database too, so a client can
resume a watch from a resourceVersion across a restart of the server; a
version older than the retained log is answered with 410 Gone, as etcd's
compaction is.

The store knows nothing of Kubernetes semantics beyond
``metadata.resourceVersion``: uids, generations, finalizers and validation
belong to :mod:`.api`. Objects handed out by :meth:`Store.list` are shared
and must be treated as read-only; :meth:`Store.get` returns a copy.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Obj = dict[str, Any]
DEFAULT_HISTORY = 20_000
WATCH_QUEUE_LIMIT = 50_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (key, namespace, name)
);
CREATE TABLE IF NOT EXISTS changes (
    rv INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Change:
    """One committed write. ``previous`` is known only for changes made by this process."""

    rv: int
    type: EventType
    key: str
    obj: Obj
    previous: Obj | None = None

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))


class StoreConflictError(Exception):
    """A write lost a race: the object exists, is gone, or has a newer version."""

    def __init__(self, why: Literal["exists", "missing", "stale"]) -> None:
        super().__init__(why)
        self.why = why


class ExpiredError(Exception):
    """The requested resourceVersion is older than the retained change log."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Watcher:
    """A queue of changes for one watch; closed when the consumer falls too far behind."""

    def __init__(self, store: Store, accepts: Callable[[Change], bool]) -> None:
        self._store = store
        self.accepts = accepts
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.overflowed = False

    def offer(self, change: Change) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= WATCH_QUEUE_LIMIT:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        if self.accepts(change):
            self.queue.put_nowait(change)

    def close(self) -> None:
        self._store._watchers.discard(self)
        self.queue.put_nowait(None)


class Store:
    """Objects by (key, namespace, name), one resourceVersion counter, a change log."""

    def __init__(self, path: Path, history: int = DEFAULT_HISTORY) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._history = history
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        # Each object as committed, so a list can be sent without encoding it again.
        self._encoded: dict[str, dict[tuple[str, str], str]] = {}
        self._changes: deque[Change] = deque(maxlen=history)
        self._watchers: set[Watcher] = set()
        for key, body in self._db.execute("SELECT key, body FROM objects"):
            obj = json.loads(body)
            self._objects.setdefault(key, {})[_ident(obj)] = obj
            self._encoded.setdefault(key, {})[_ident(obj)] = body
        rows = self._db.execute(
            "SELECT rv, type, key, body FROM changes ORDER BY rv DESC LIMIT ?", (history,)
        ).fetchall()
        for rv, kind, key, body in reversed(rows):
            self._changes.append(Change(rv, kind, key, json.loads(body)))
        row = self._db.execute("SELECT value FROM meta WHERE name = 'rv'").fetchone()
        self._rv = int(row[0]) if row else 0
        # The oldest version a watch may resume from: everything after it is in the log.
        row = self._db.execute("SELECT value FROM meta WHERE name = 'compacted'").fetchone()
        self._compacted = int(row[0]) if row else 0

    def close(self) -> None:
        for watcher in list(self._watchers):
            watcher.close()
        self._db.close()

    @property
    def resource_version(self) -> int:
        """The version of the latest write: a list is consistent as of this."""
        return self._rv

    # -- reads -------------------------------------------------------------

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        obj = self._objects.get(key, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def objects(self, key: str, namespace: str | None = None) -> Iterator[Obj]:
        """Objects of one resource (in one namespace, or all), read-only, sorted."""
        objects = self._objects.get(key, {})
        for ident in sorted(objects):
            if namespace is None or ident[0] == namespace:
                yield objects[ident]

    def encoded(self, key: str, obj: Obj) -> str:
        """The committed JSON text of an object :meth:`objects` returned."""
        return self._encoded[key][_ident(obj)]

    def count(self, key: str) -> int:
        return len(self._objects.get(key, {}))

    # -- writes ------------------------------------------------------------

    def create(self, key: str, obj: Obj) -> Obj:
        ident = _ident(obj)
        if ident in self._objects.get(key, {}):
            raise StoreConflictError("exists")
        return self._commit(key, ident, obj, "ADDED", None)

    def update(self, key: str, obj: Obj, expected_rv: str | None = None) -> Obj:
        """Replace an object; with ``expected_rv``, only if it is still that version."""
        ident = _ident(obj)
        previous = self._objects.get(key, {}).get(ident)
        if previous is None:
            raise StoreConflictError("missing")
        if expected_rv and previous["metadata"]["resourceVersion"] != expected_rv:
            raise StoreConflictError("stale")
        return self._commit(key, ident, obj, "MODIFIED", previous)

    def delete(self, key: str, namespace: str, name: str, expected_rv: str | None = None) -> Obj:
        previous = self._objects.get(key, {}).get((namespace, name))
        if previous is None:
            raise StoreConflictError("missing")
        if expected_rv and previous["metadata"]["resourceVersion"] != expected_rv:
            raise StoreConflictError("stale")
        return self._commit(key, (namespace, name), previous, "DELETED", previous)

    def _commit(
        self, key: str, ident: tuple[str, str], obj: Obj, kind: EventType, previous: Obj | None
    ) -> Obj:
        rv = self._rv + 1
        # Serialise once; the stored copy and the caller's copy are both parsed
        # from it, so neither can reach into the other.
        body = json.dumps(
            {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}},
            separators=(",", ":"),
        )
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if kind == "DELETED":
                db.execute(
                    "DELETE FROM objects WHERE key = ? AND namespace = ? AND name = ?",
                    (key, *ident),
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
                    (key, *ident, rv, body),
                )
            db.execute("INSERT INTO changes VALUES (?, ?, ?, ?)", (rv, kind, key, body))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (str(rv),))
            if rv % 1000 == 0:
                self._compact(rv)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._rv = rv
        stored = json.loads(body)
        bucket = self._objects.setdefault(key, {})
        encoded = self._encoded.setdefault(key, {})
        if kind == "DELETED":
            del bucket[ident]
            del encoded[ident]
        else:
            bucket[ident] = stored
            encoded[ident] = body
        change = Change(rv, kind, key, stored, previous)
        self._changes.append(change)
        for watcher in list(self._watchers):
            watcher.offer(change)
        return json.loads(body)  # type: ignore[no-any-return]

    def _compact(self, rv: int) -> None:
        """Drop changes older than the retained history, inside the caller's transaction."""
        cutoff = rv - self._history
        if cutoff > self._compacted:
            self._db.execute("DELETE FROM changes WHERE rv <= ?", (cutoff,))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('compacted', ?)", (str(cutoff),))
            self._compacted = cutoff

    # -- watches -----------------------------------------------------------

    def changes_since(self, rv: int, accepts: Callable[[Change], bool]) -> list[Change]:
        """Retained changes after ``rv`` that ``accepts``; raises if some were dropped."""
        oldest = self._changes[0].rv if self._changes else self._rv + 1
        if rv < oldest - 1 and rv < self._rv:
            raise ExpiredError(rv, oldest - 1)
        return [c for c in self._changes if c.rv > rv and accepts(c)]

    def watch(self, accepts: Callable[[Change], bool]) -> Watcher:
        """Changes from now on that ``accepts``; call :meth:`Watcher.close` when done."""
        watcher = Watcher(self, accepts)
        self._watchers.add(watcher)
        return watcher


def _ident(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", "") or "", meta["name"])
