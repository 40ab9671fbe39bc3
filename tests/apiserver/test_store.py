"""The embedded cluster's object store: versions, durability, the change log."""

import asyncio
from pathlib import Path

import pytest

from labplatform.clusters.embedded.apiserver.store import (
    ExpiredError,
    Store,
    StoreConflictError,
)


def cm(name: str, data: str = "x", namespace: str = "default") -> dict:
    return {"metadata": {"name": name, "namespace": namespace}, "data": {"k": data}}


@pytest.fixture
def store(tmp_path: Path):
    store = Store(tmp_path / "store.db")
    yield store
    store.close()


def test_every_write_gets_a_higher_resource_version(store: Store) -> None:
    a = store.create("/configmaps", cm("a"))
    b = store.create("/configmaps", cm("b"))
    a2 = store.update("/configmaps", {**a, "data": {"k": "y"}})
    gone = store.delete("/configmaps", "default", "b")
    versions = [int(o["metadata"]["resourceVersion"]) for o in (a, b, a2, gone)]
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert store.resource_version == versions[-1]
    assert store.get("/configmaps", "default", "b") is None


def test_conflicts_are_refused_and_change_nothing(store: Store) -> None:
    a = store.create("/configmaps", cm("a"))
    with pytest.raises(StoreConflictError) as exists:
        store.create("/configmaps", cm("a", "other"))
    assert exists.value.why == "exists"
    store.update("/configmaps", {**a, "data": {"k": "new"}})
    with pytest.raises(StoreConflictError) as stale:
        store.update("/configmaps", {**a, "data": {"k": "lost"}}, a["metadata"]["resourceVersion"])
    assert stale.value.why == "stale"
    assert store.get("/configmaps", "default", "a")["data"] == {"k": "new"}


def test_objects_and_versions_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = Store(path)
    first.create("/configmaps", cm("a", namespace="lab"))
    rv = first.create("/configmaps", cm("b", namespace="lab"))["metadata"]["resourceVersion"]
    first.close()
    second = Store(path)
    try:
        assert [o["metadata"]["name"] for o in second.objects("/configmaps", "lab")] == ["a", "b"]
        assert second.resource_version == int(rv)
        assert int(second.create("/configmaps", cm("c"))["metadata"]["resourceVersion"]) > int(rv)
        # a watch can resume from before the restart
        changes = second.changes_since(int(rv) - 1, lambda c: True)
        assert [(c.type, c.obj["metadata"]["name"]) for c in changes] == [
            ("ADDED", "b"),
            ("ADDED", "c"),
        ]
    finally:
        second.close()


def test_versions_older_than_the_retained_log_are_expired(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db", history=5)
    try:
        for i in range(12):
            store.create("/configmaps", cm(f"c{i}"))
        assert len(store.changes_since(8, lambda c: True)) == 4
        with pytest.raises(ExpiredError, match="too old resource version: 2"):
            store.changes_since(2, lambda c: True)
    finally:
        store.close()


def test_lists_are_sorted_by_namespace_then_name(store: Store) -> None:
    for ns, name in [("b", "x"), ("a", "z"), ("a", "y")]:
        store.create("/configmaps", cm(name, namespace=ns))
    assert [
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.objects("/configmaps")
    ] == [
        ("a", "y"),
        ("a", "z"),
        ("b", "x"),
    ]


async def test_watchers_see_changes_in_order_with_the_previous_state(store: Store) -> None:
    watcher = store.watch(lambda change: change.key == "/configmaps")
    a = store.create("/configmaps", cm("a"))
    store.create("/secrets", cm("s"))  # filtered out
    store.update("/configmaps", {**a, "data": {"k": "2"}})
    store.delete("/configmaps", "default", "a")
    seen = [await asyncio.wait_for(watcher.queue.get(), 1) for _ in range(3)]
    assert [c.type for c in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[1].previous is not None and seen[1].previous["data"] == {"k": "x"}
    assert watcher.queue.empty()
    watcher.close()
    assert await watcher.queue.get() is None  # closing wakes the reader


def test_get_returns_a_private_copy(store: Store) -> None:
    store.create("/configmaps", cm("a"))
    copy = store.get("/configmaps", "default", "a")
    copy["data"]["k"] = "mutated"
    assert store.get("/configmaps", "default", "a")["data"] == {"k": "x"}
