"""A live embedded cluster (a real API server process over TLS) and real kubectl."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from urllib3.exceptions import ProtocolError

from labplatform.clusters.embedded.manager import ClusterInfo, EmbeddedClusters
from tests.helpers import VENV_BIN

KUBECTL = str(VENV_BIN / "kubectl")


def kubectl_env(kubeconfig: Path, home: Path) -> dict[str, str]:
    """kubectl pointed at one cluster, with a home and discovery cache of the test's own."""
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "HOME": str(home),
        "KUBECACHEDIR": str(home / "cache"),
    }


@dataclass
class LiveCluster:
    """One embedded cluster for one test, with kubectl and the Python client at hand."""

    clusters: EmbeddedClusters
    info: ClusterInfo
    kubeconfig: Path
    cache_dir: Path
    api_client: k8s.ApiClient = field(init=False)

    def __post_init__(self) -> None:
        self.api_client = k8s_config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=kubectl_env(self.kubeconfig, self.cache_dir),
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            output = result.stdout + result.stderr
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{output}")
        return result

    def restart(self) -> None:
        """Stop and start the API server; everything it stored must come back."""
        self.clusters.stop(self.info.name)
        self.info = self.clusters.start(self.info.name)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LiveCluster]:
    clusters = EmbeddedClusters(tmp_path / "data")
    name = f"t{uuid.uuid4().hex[:8]}"
    info = clusters.create(name)
    cache = tmp_path / "kube-cache"
    cache.mkdir()
    live = LiveCluster(clusters, info, clusters.kubeconfig(name), cache)
    try:
        yield live
    finally:
        live.api_client.close()
        clusters.delete(name)


class StandInKubelet:
    """Stands in for the node runtime (embedded cluster part 2), which does not exist yet.

    It marks every pod Running and Ready with a pod IP, as a kubelet would
    once the containers are up, so controllers and `kubectl rollout status`
    can be exercised against the real API server.
    """

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self.core = k8s.CoreV1Api(api_client)
        self.namespace = namespace
        self._stop = threading.Event()
        self._watch = k8s_watch.Watch()
        self._next_ip = 10
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StandInKubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watch.stop()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._watch.stream(
                    self.core.list_namespaced_pod, self.namespace, timeout_seconds=2
                ):
                    pod = event["object"]
                    if event["type"] != "DELETED" and pod.status.phase == "Pending":
                        self._start(pod)
                    if self._stop.is_set():
                        return
            except ProtocolError:
                if not self._stop.is_set():
                    raise  # a watch cut short while the test still needs it is a failure

    def _start(self, pod: k8s.V1Pod) -> None:
        self._next_ip += 1
        now = "2026-01-01T00:00:00Z"
        containers = [
            {
                "name": c.name,
                "image": c.image,
                "imageID": f"docker.io/{c.image}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in pod.spec.containers
        ]
        body = {
            "status": {
                "phase": "Running",
                "podIP": f"10.244.0.{self._next_ip}",
                "podIPs": [{"ip": f"10.244.0.{self._next_ip}"}],
                "hostIP": "10.0.0.1",
                "startTime": now,
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": now}
                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                ],
                "containerStatuses": containers,
            }
        }
        try:
            self.core.patch_namespaced_pod_status(pod.metadata.name, self.namespace, body)
        except k8s.ApiException as exc:
            if exc.status != 404:  # deleted meanwhile
                raise
