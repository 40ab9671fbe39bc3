"""A live embedded cluster (a real API server process over TLS) and real kubectl."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

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
