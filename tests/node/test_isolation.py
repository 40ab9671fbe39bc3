"""What one cluster cannot see or reach, and what a cluster leaves when it dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labplatform.clusters.embedded.node.sandbox import cgroup_dirs
from tests.node.conftest import NodeCluster, new_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.root]


@pytest.fixture
def other(tmp_path: Path) -> Iterator[NodeCluster]:
    yield from new_cluster(tmp_path / "other-data", tmp_path / "other-cache")


@pytest.fixture
def host_listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP server on the host's loopback that records who reached it."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except OSError:
                continue
            seen.append(peer[0])
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def _host_addresses() -> list[str]:
    addresses = {"127.0.0.1"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            addresses.add(probe.getsockname()[0])
        except OSError:
            pass
    return sorted(addresses)


def test_clusters_cannot_see_or_reach_each_other_or_the_host(
    node: NodeCluster, other: NodeCluster, host_listener: tuple[int, list[str]]
) -> None:
    port, seen = host_listener
    other.kubectl("run", "secret-b", "--image=labplatform/whoami")
    b_ip = other.running_pod("secret-b")["status"]["podIP"]
    node.kubectl("run", "probe", "--image=busybox", "--", "sleep", "3600")
    node.running_pod("probe")
    reply = node.kubectl(
        "exec", "probe", "--", "curl", "-s", "--max-time", "2", f"http://{b_ip}/", check=False
    ).stdout
    assert "secret-b" not in reply  # the same address in A is A's own (or nothing)
    for address in _host_addresses():
        for where in (["exec", "probe", "--"], None):
            command = ["curl", "-sS", "--max-time", "2", f"http://{address}:{port}/"]
            result = node.kubectl(*where, *command, check=False) if where else node.shell(*command)
            assert result.returncode != 0, f"{address} reached from {'pod' if where else 'node'}"
    assert seen == []
    # Processes: B's pod is not among A's, from A's node or from A's pod.
    processes = node.shell("ps", "-eo", "args").stdout
    assert "whoami" not in processes and "sleep 3600" in processes
    in_pod = node.kubectl("exec", "probe", "--", "ps", "-eo", "args").stdout
    assert in_pod.split("\n")[1:3] == ["sleep 3600", "ps -eo args"]  # its own PID namespace
    # Files: B's directory, the data directory and the host's homes are out of sight.
    b_dir = other.clusters.directory(other.name)
    assert node.shell("ls", str(b_dir)).returncode != 0
    assert node.shell("ls", "-A", str(node.clusters.data_dir)).stdout.strip() == ""
    assert node.shell("touch", "/usr/local/escape").returncode != 0  # the host is read-only
    assert node.shell("id", "-u").stdout.strip() == "0"
    host_uid = Path(f"/proc/{_pid_of(node, 'sleep 3600')}/status").read_text()
    assert "Uid:\t0\t" not in host_uid  # root in the pod, not on the host


def _pid_of(node: NodeCluster, needle: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle.encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                    cgroup = (entry / "cgroup").read_text()
                    if f"/{node.name}" in cgroup:
                        return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no process {needle!r} of cluster {node.name}")


def test_a_fork_bomb_is_contained_and_the_node_keeps_working(node: NodeCluster) -> None:
    node.kubectl(
        "run", "bomb", "--image=busybox", "--", "sh", "-c", "f() { f | f & }; f; sleep 3600"
    )  # fmt: skip
    node.running_pod("bomb")
    time.sleep(3)
    node.kubectl("run", "after", "--image=busybox", "--", "sleep", "3600")
    assert node.running_pod("after")["status"]["podIP"]
    node.kubectl("delete", "pod", "bomb", "--grace-period=1", timeout=90)
    pids = cgroup_dirs(node.name)[-1] / "pids.current"
    if pids.exists():
        node.wait_for("the bomb's processes to be gone", lambda: int(pids.read_text()) < 100)


@pytest.fixture
def small(tmp_path: Path) -> Iterator[NodeCluster]:
    yield from new_cluster(tmp_path / "small-data", tmp_path / "small-cache", memory_mb=384)


def test_a_memory_hog_is_killed_and_the_node_stays_up(small: NodeCluster) -> None:
    small.kubectl(
        "run", "hog", "--image=python", "--",
        "python3", "-c", "chunks = []\nwhile True: chunks.append(bytearray(10**7))",
    )  # fmt: skip

    def killed() -> dict[str, Any] | None:
        statuses = small.get("pod", "hog")["status"].get("containerStatuses") or [{}]
        last = statuses[0].get("lastState", {}).get("terminated")
        return last if last and last["exitCode"] == 137 else None

    small.wait_for("the hog to be OOM-killed", killed, timeout=60)
    assert small.kubectl("get", "nodes").stdout.count("Ready") == 1


def test_a_killed_supervisor_leaves_nothing_after_gc(node: NodeCluster) -> None:
    node.kubectl("create", "deployment", "web", "--image=labplatform/whoami", "--replicas=2")
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    os.kill(node.info.pid, signal.SIGKILL)
    cluster_dir = str(node.clusters.directory(node.name))
    node.wait_for(
        "every process of the cluster to end",
        lambda: (
            not any(_in_cluster(entry, node.name, cluster_dir) for entry in Path("/proc").iterdir())
        ),
        timeout=20,
    )
    removed = node.clusters.gc()
    assert all(not d.exists() for d in cgroup_dirs(node.name))
    assert any(item.startswith("cgroup") for item in removed) or not any(
        d.parent.exists() for d in cgroup_dirs(node.name)
    )
    # The cluster's /dev/shm was its own; nothing on the host's belongs to its uids.
    uids = range(node.info.uid_base, node.info.uid_base + 65536)
    assert not [e.name for e in Path("/dev/shm").iterdir() if e.stat().st_uid in uids]
    # The cluster's objects survive, and it starts again with its pods re-created.
    node.info = node.clusters.start(node.name)
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    pods = json.loads(node.kubectl("get", "pods", "-o", "json").stdout)["items"]
    assert len([p for p in pods if p["status"].get("podIP")]) == 2


def _in_cluster(entry: Path, name: str, cluster_dir: str) -> bool:
    if not entry.name.isdigit():
        return False
    try:
        return cluster_dir.encode() in (entry / "cmdline").read_bytes() or (
            f"labplatform/{name}\n" in (entry / "cgroup").read_text()
        )
    except OSError:
        return False
