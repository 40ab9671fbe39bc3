"""Real clusters with a running node: pods are processes in their own namespaces.

The tests that start whole clusters need root (namespaces, uid ranges,
cgroups) and carry the ``e2e`` and ``root`` marks.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.conftest import KUBECTL, LiveCluster, live_cluster


class NodeCluster(LiveCluster):
    """A live cluster whose pods run, with the node's shell and waits at hand."""

    @property
    def name(self) -> str:
        return self.info.name

    def live_pods(self, selector: str) -> list[dict[str, Any]]:
        """The pods of ``selector`` that are not on their way out."""
        pods = self.get("pods", "-l", selector)["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def kubectl_argv(self) -> list[str]:
        """kubectl for this cluster, for a test that runs it in the background."""
        return [KUBECTL, "--kubeconfig", str(self.kubeconfig)]

    def shell(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A command inside the node, as `labplatform cluster shell NAME -- ...` runs it."""
        argv = self.clusters.shell_command(self.name, list(command))
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def wait_for(
        self, what: str, condition: Callable[[], Any], timeout: float = 60, every: float = 0.2
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                events = self.kubectl("get", "events", "-A", check=False).stdout
                raise AssertionError(f"timed out waiting for {what}; events:\n{events}")
            time.sleep(every)

    def running_pod(self, name: str, namespace: str = "default") -> dict[str, Any]:
        def running() -> dict[str, Any] | None:
            pod = json.loads(
                self.kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False).stdout
                or "null"
            )
            ready = pod and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in pod.get("status", {}).get("conditions", [])
            )
            return pod if ready else None

        return self.wait_for(f"pod {namespace}/{name} Running and Ready", running)


def new_cluster(data_dir: Path, cache: Path, **options: Any) -> Iterator[NodeCluster]:
    if os.geteuid() != 0:
        pytest.skip("clusters with a node need root here (see the rootless test for the other way)")
    yield from live_cluster(data_dir, cache, NodeCluster, **options)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeCluster]:
    yield from new_cluster(tmp_path / "data", tmp_path / "kube-cache")
