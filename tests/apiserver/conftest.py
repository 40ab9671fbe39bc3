"""A live embedded cluster (a real API server process over TLS) and real kubectl.

:func:`serve_in_thread` serves an API server alone, in process, on the host's
loopback: for the tests of the API server's own half of a protocol (exec,
webhooks) that need to stand something of their own on the other side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.bootstrap import bootstrap
from labplatform.clusters.embedded.apiserver.node import NodeRuntime
from labplatform.clusters.embedded.apiserver.registry import Registry
from labplatform.clusters.embedded.apiserver.server import ApiServer
from labplatform.clusters.embedded.apiserver.store import Store
from labplatform.clusters.embedded.apiserver.tokens import TokenIssuer
from labplatform.clusters.embedded.manager import ClusterInfo, EmbeddedClusters
from labplatform.clusters.embedded.pki import ClusterCredentials
from labplatform.clusters.kubeconfig import write_kubeconfig
from tests.helpers import VENV_BIN, free_port

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


ClusterT = TypeVar("ClusterT", bound=LiveCluster)


def live_cluster(
    data_dir: Path, cache: Path, kind: type[ClusterT], **options: Any
) -> Iterator[ClusterT]:
    """A new cluster of a unique name for one test, deleted afterwards."""
    clusters = EmbeddedClusters(data_dir)
    name = f"t{uuid.uuid4().hex[:8]}"
    info = clusters.create(name, **options)
    cache.mkdir(exist_ok=True)
    live = kind(clusters, info, clusters.kubeconfig(name), cache)
    try:
        yield live
    finally:
        live.api_client.close()
        clusters.delete(name)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LiveCluster]:
    yield from live_cluster(tmp_path / "data", tmp_path / "kube-cache", LiveCluster)


@contextlib.contextmanager
def serve_in_thread(
    directory: Path,
    node: NodeRuntime | None = None,
    setup: Callable[[Api], Awaitable[None]] | None = None,
) -> Iterator[Path]:
    """An API server alone, in this process, on loopback; yields its kubeconfig."""
    credentials = ClusterCredentials.load_or_create(directory / "pki")
    port = free_port()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        store = Store(directory / "store.db")
        api = Api(store, Registry())
        await bootstrap(api)
        server = ApiServer(api, credentials.token, TokenIssuer(directory / "sa.key"), node=node)
        if setup is not None:
            await setup(api)
        config = server.uvicorn_config(
            "127.0.0.1", port, credentials.server_cert_path, credentials.server_key_path
        )
        holder["server"] = uvicorn.Server(config)
        ready.set()
        try:
            await holder["server"].serve()
        finally:
            store.close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(20)
    deadline = time.monotonic() + 20
    while not holder["server"].started:  # listening, not merely constructed
        assert time.monotonic() < deadline, "the in-process API server did not start"
        time.sleep(0.01)
    kubeconfig = directory / "kubeconfig"
    server = f"https://127.0.0.1:{port}"
    write_kubeconfig(kubeconfig, "in-process", server, credentials.ca_pem, credentials.token)
    try:
        yield kubeconfig
    finally:
        holder["server"].should_exit = True
        thread.join(timeout=10)
