"""The embedded backend: each learner's cluster is a sandbox on this host.

A thin adapter from :class:`~labplatform.clusters.backend.ClusterBackend` to
:class:`EmbeddedClusters`, which also installs the mesh, so a cluster handed
to a learner is the same as ``labplatform cluster create NAME --mesh``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from labplatform.clusters.backend import ApiAccess, ClusterError, Progress
from labplatform.clusters.embedded.manager import EmbeddedClusters


class EmbeddedBackend:
    kind = "embedded"

    def __init__(self, data_dir: Path, memory_mb: int = 2048, cpus: float = 1.0) -> None:
        self.clusters = EmbeddedClusters(data_dir)
        self.memory_mb = memory_mb
        self.cpus = cpus

    def create(self, name: str, progress: Progress) -> None:
        from mesh_runtime import kube
        from mesh_runtime.install import install

        self.clusters.create(name, progress, memory_mb=self.memory_mb, cpus=self.cpus)
        progress("installing the service mesh (pilot, citadel, mixer, ingress gateway)")
        try:
            with kube.api_client(str(self.clusters.kubeconfig(name))) as client:
                install(client, progress, wait=True)
        except TimeoutError as exc:
            raise ClusterError(f"the mesh did not start: {exc}") from None

    def delete(self, name: str) -> None:
        if name in self.names():
            self.clusters.delete(name)

    def names(self) -> set[str]:
        return {info.name for info, _ in self.clusters.list()}

    def running(self, name: str) -> bool:
        return any(info.name == name and up for info, up in self.clusters.list())

    def api(self, name: str) -> ApiAccess:
        kubeconfig = self.clusters.kubeconfig(name)
        directory = self.clusters.directory(name) / "pki"
        return ApiAccess(
            server=f"https://127.0.0.1:{self.clusters.info(name).port}",
            ca_file=directory / "ca.crt",
            token=(directory / "token").read_text().strip(),
            kubeconfig=kubeconfig,
        )

    def shell_command(self, name: str, command: Sequence[str] = ()) -> list[str]:
        return list(self.clusters.shell_command(name, command))
