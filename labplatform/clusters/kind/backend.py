"""The kind backend: each learner's cluster is a kind cluster (Kubernetes in Docker).

Per session: ``kind create cluster`` with a config of ours (one node,
kubelet eviction thresholds a laptop's disk will not trip, the session's
name on the node), ``kind load docker-image`` of every image the labs run
(``make images`` builds them; no registry has them), the same control-plane
manifests the embedded backend installs (``meshctl install``), and a
``toolbox`` pod whose shell is the learner's terminal. The course server
reaches the cluster's API with a ServiceAccount token made at creation;
app tabs go through the API server's service proxy, as on every backend.
``kind delete cluster`` removes it all.

Docker, kind and kubectl must be installed and Docker's engine running;
``labplatform doctor`` checks them.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from labplatform.clusters import toolbox
from labplatform.clusters.backend import ApiAccess, ClusterError, Progress
from labplatform.clusters.images import references
from labplatform.clusters.kubeconfig import write_private

NAMESPACE = "labplatform"  # the toolbox and the course server's account live here
SERVER_ACCOUNT = "course-server"
TOKEN_SECONDS = 48 * 3600
COMMAND_SECONDS = 600.0


def cluster_config(name: str) -> dict[str, Any]:
    """The kind config of one session's cluster."""
    kubelet = {
        "kind": "KubeletConfiguration",
        # kind's defaults evict pods when the host's disk is 85% full: a lab host often is.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%"},
        "maxPods": 60,
    }  # fmt: skip
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": name,
        "nodes": [
            {
                "role": "control-plane",
                "labels": {"labplatform.io/session": name},
                "kubeadmConfigPatches": [yaml.safe_dump(kubelet, sort_keys=False)],
            }
        ],
        "networking": {"apiServerAddress": "127.0.0.1", "apiServerPort": 0},
    }


class KindBackend:
    kind = "kind"

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "kind"

    # -- the backend interface ---------------------------------------------------

    def create(self, name: str, progress: Progress) -> None:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "kind.yaml"
        config.write_text(yaml.safe_dump(cluster_config(name), sort_keys=False))
        progress(f"creating kind cluster {name}")
        try:
            self._run("kind", "create", "cluster", "--name", name, "--config", str(config),
                      "--kubeconfig", str(self.kubeconfig(name)), "--wait", "120s")  # fmt: skip
        except ClusterError:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        try:
            images = references()
            for number, reference in enumerate(images, 1):
                progress(f"loading image {number}/{len(images)}: {reference}")
                self._run("kind", "load", "docker-image", "--name", name, reference)
            self._install(name, progress)
        except (ClusterError, TimeoutError) as exc:
            self.delete(name)
            raise ClusterError(f"kind cluster {name} could not be set up: {exc}") from None

    def delete(self, name: str) -> None:
        if (self.root / name).is_dir():
            self._run("kind", "delete", "cluster", "--name", name)
            shutil.rmtree(self.root / name, ignore_errors=True)

    def names(self) -> set[str]:
        """The clusters this server made (a host's other kind clusters are not ours)."""
        if not self.root.is_dir():
            return set()
        return {d.name for d in self.root.iterdir() if (d / "kind.yaml").is_file()}

    def running(self, name: str) -> bool:
        found = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Running}}", f"{name}-control-plane"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return found.returncode == 0 and found.stdout.strip() == "true"

    def api(self, name: str) -> ApiAccess:
        directory = self.root / name
        return ApiAccess(
            server=self._cluster_entry(name)["server"],
            ca_file=directory / "ca.crt",
            token=(directory / "token").read_text().strip(),
            kubeconfig=self.kubeconfig(name),
        )

    def shell_command(self, name: str, command: Sequence[str] = ()) -> list[str]:
        return toolbox.shell_command(self.kubeconfig(name), NAMESPACE, name, command)

    # -- one cluster -------------------------------------------------------------

    def kubeconfig(self, name: str) -> Path:
        return self.root / name / "kubeconfig"

    def _install(self, name: str, progress: Progress) -> None:
        """The mesh, then the toolbox and the course server's account (cluster-admin: the
        cluster is the learner's own, and the course server grades all of it)."""
        from kubernetes import client as k8s

        from mesh_runtime import kube
        from mesh_runtime.install import install

        with kube.api_client(str(self.kubeconfig(name))) as client:
            progress("installing the service mesh (pilot, citadel, mixer, ingress gateway)")
            install(client, progress, wait=True)
            progress("starting the learner's toolbox pod")
            kube.apply(client, _accounts())
            core = k8s.CoreV1Api(client)
            core.create_namespaced_pod(NAMESPACE, toolbox.pod(SERVER_ACCOUNT))
            toolbox.wait_running(core, NAMESPACE)
            request = core.create_namespaced_service_account_token(
                SERVER_ACCOUNT, NAMESPACE, {"spec": {"expirationSeconds": TOKEN_SECONDS}}
            )
        ca = base64.b64decode(self._cluster_entry(name)["certificate-authority-data"])
        (self.root / name / "ca.crt").write_bytes(ca)
        write_private(self.root / name / "token", request.status.token.encode())

    def _cluster_entry(self, name: str) -> dict[str, Any]:
        """The cluster of the kubeconfig kind wrote: its server and CA."""
        config = yaml.safe_load(self.kubeconfig(name).read_text())
        return dict(config["clusters"][0]["cluster"])

    def _run(self, *argv: str) -> None:
        try:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=COMMAND_SECONDS, check=False)  # fmt: skip
        except (FileNotFoundError, PermissionError) as exc:
            why = "is not installed" if isinstance(exc, FileNotFoundError) else "cannot be run"
            raise ClusterError(f"{argv[0]} {why} (see `labplatform doctor`)") from None
        except subprocess.TimeoutExpired:
            raise ClusterError(f"`{' '.join(argv[:3])}` ran over {COMMAND_SECONDS:.0f} s") from None
        if done.returncode != 0:
            tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise ClusterError(f"`{' '.join(argv[:4])}` failed: {tail}")


def _accounts() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": NAMESPACE, "labels": {"istio-injection": "disabled"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": SERVER_ACCOUNT, "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"{NAMESPACE}-{SERVER_ACCOUNT}"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": SERVER_ACCOUNT,
                       "namespace": NAMESPACE}]},
    ]  # fmt: skip
