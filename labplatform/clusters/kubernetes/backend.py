"""The kubernetes backend: each learner gets a namespace of an existing cluster.

For a workshop bigger than one machine. The host gives the course server a
cluster (its kubeconfig, or the in-cluster ServiceAccount when the server
runs as a Deployment there) with the mesh's control plane installed once,
shared by every session: one pilot, citadel and mixer serve all namespaces,
as a production mesh does. (One control plane per session would isolate
learners' mesh config completely, at the cost of four more pods each, and
of cluster-wide objects such as webhooks that sessions would fight over;
sharing it is the choice here.)

A session is a namespace, labelled for sidecar injection, holding:

- a ServiceAccount ``learner`` bound to the ``admin`` ClusterRole *in that
  namespace only*: the learner can do anything there and nothing elsewhere;
- a ResourceQuota (pods, cpu, memory) and a LimitRange giving containers
  that state nothing a default, so no session can starve the others;
- NetworkPolicies that admit traffic from the namespace itself and from
  ``istio-system`` (the ingress gateway, the control plane) only, where the
  cluster's network plugin enforces them;
- the ``toolbox`` pod (kubectl, meshctl, curl) running as ``learner``: the
  learner's terminal is a shell in it, through the Kubernetes exec API.

The course server itself (grader, app tabs) uses the host's credentials;
deleting the namespace deletes everything the session made.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from labkit.quantities import parse_quantity
from labplatform.clusters import toolbox
from labplatform.clusters.backend import ApiAccess, ClusterError, Progress
from labplatform.clusters.kubeconfig import write_kubeconfig

SESSION_LABEL = "labplatform.io/session"
LEARNER = "learner"
TOKEN_SECONDS = 12 * 3600  # a session's longest life, and then some


@dataclass(frozen=True)
class SessionQuota:
    """What one session's namespace may hold at most."""

    pods: int = 20
    cpu: str = "2"  # requests
    memory: str = "2Gi"  # requests
    # every pod at its limits, sidecar included (a sidecar's limits: 1 core, 512Mi)
    limits_cpu: str = "40"
    limits_memory: str = "24Gi"
    default_cpu: str = "50m"  # a container that states nothing asks for this
    default_memory: str = "64Mi"
    default_limit_cpu: str = "1"
    default_limit_memory: str = "512Mi"


class KubernetesBackend:
    kind = "kubernetes"

    def __init__(
        self, data_dir: Path, kubeconfig: Path | None = None, quota: SessionQuota | None = None
    ) -> None:
        self.root = data_dir / "kubernetes"
        self.kubeconfig = kubeconfig
        self.quota = quota or SessionQuota()
        if kubeconfig is not None:
            self.client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        else:  # the course server's own ServiceAccount, in the cluster it serves
            k8s_config.load_incluster_config()
            self.client = k8s.ApiClient()
        self.core = k8s.CoreV1Api(self.client)
        self.rbac = k8s.RbacAuthorizationV1Api(self.client)
        self.networking = k8s.NetworkingV1Api(self.client)

    # -- the backend interface ---------------------------------------------------

    def create(self, name: str, progress: Progress) -> None:
        progress(f"making namespace {name} with its quota, limits and network policies")
        try:
            labels = {SESSION_LABEL: "true", "istio-injection": "enabled"}
            self.core.create_namespace({"metadata": {"name": name, "labels": labels}})
        except ApiException as exc:  # taken, or not ours to make: leave it as it is
            raise ClusterError(f"namespace {name} could not be made: {exc.reason}") from None
        try:
            self._furnish(name)
            progress("starting the learner's toolbox pod")
            toolbox.wait_running(self.core, name)
            self._write_learner_kubeconfig(name)
        except (ApiException, ClusterError, TimeoutError) as exc:
            self.delete(name)
            reason = exc.reason if isinstance(exc, ApiException) else str(exc)
            raise ClusterError(f"session namespace {name} could not be set up: {reason}") from None

    def delete(self, name: str) -> None:
        try:
            self.core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
        shutil.rmtree(self.root / name, ignore_errors=True)

    def names(self) -> set[str]:
        found = self.core.list_namespace(label_selector=f"{SESSION_LABEL}=true")
        return {ns.metadata.name for ns in found.items if not ns.metadata.deletion_timestamp}

    def running(self, name: str) -> bool:
        return toolbox.running(self.core, name)

    def api(self, name: str) -> ApiAccess:
        """The host's access: the course server grades and proxies app tabs with it."""
        config = self.client.configuration
        # A kubeconfig's token is kept as "BearerToken", the in-cluster one as "authorization".
        values = (config.api_key or {}).values()
        token = next((v.removeprefix("Bearer ").strip() for v in values if v), "")
        if not token:
            raise ClusterError(
                "the kubernetes backend needs a token to reach the cluster (a ServiceAccount's, "
                "as in-cluster or in a kubeconfig's user.token); client certificates are not used"
            )
        if not config.ssl_ca_cert:
            raise ClusterError("the cluster's kubeconfig names no certificate authority to trust")
        return ApiAccess(config.host, Path(config.ssl_ca_cert), token, self.kubeconfig or Path())

    def shell_command(self, name: str, command: Sequence[str] = ()) -> list[str]:
        """A shell in the session's toolbox pod, as the learner, through the exec API."""
        return toolbox.shell_command(self.learner_kubeconfig(name), name, name, command)

    # -- capacity --------------------------------------------------------------

    def capacity(self) -> int:
        """How many sessions the cluster's nodes can hold, each at its full quota."""
        cpu = memory = 0.0
        for node in self.core.list_node().items:
            allocatable = (node.status.allocatable if node.status else None) or {}
            cpu += float(parse_quantity(allocatable.get("cpu", "0")))
            memory += float(parse_quantity(allocatable.get("memory", "0")))
        per_cpu = float(parse_quantity(self.quota.cpu))
        per_memory = float(parse_quantity(self.quota.memory))
        return int(min(cpu / per_cpu, memory / per_memory))

    # -- a session's namespace ---------------------------------------------------

    def learner_kubeconfig(self, name: str) -> Path:
        return self.root / name / "kubeconfig"

    def _furnish(self, name: str) -> None:
        quota = self.quota
        self.core.create_namespaced_service_account(
            name, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=LEARNER)))  # fmt: skip
        self.rbac.create_namespaced_role_binding(name, {
            "metadata": {"name": f"{LEARNER}-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": LEARNER, "namespace": name}],
        })  # fmt: skip
        self.core.create_namespaced_resource_quota(name, {
            "metadata": {"name": "session"},
            "spec": {"hard": {
                "pods": str(quota.pods), "requests.cpu": quota.cpu,
                "requests.memory": quota.memory, "limits.cpu": quota.limits_cpu,
                "limits.memory": quota.limits_memory,
            }},
        })  # fmt: skip
        self.core.create_namespaced_limit_range(name, {
            "metadata": {"name": "session"},
            "spec": {"limits": [{
                "type": "Container",
                "defaultRequest": {"cpu": quota.default_cpu, "memory": quota.default_memory},
                "default": {"cpu": quota.default_limit_cpu, "memory": quota.default_limit_memory},
            }]},
        })  # fmt: skip
        for policy in _network_policies():
            self.networking.create_namespaced_network_policy(name, policy)
        self.core.create_namespaced_pod(name, toolbox.pod(LEARNER))

    def _write_learner_kubeconfig(self, name: str) -> None:
        """A kubeconfig with the learner's own token, confined to the namespace."""
        request = self.core.create_namespaced_service_account_token(
            LEARNER, name, {"spec": {"expirationSeconds": TOKEN_SECONDS}}
        )
        access = self.api(name)
        write_kubeconfig(
            self.learner_kubeconfig(name), name, access.server, access.ca_file.read_bytes(),
            request.status.token, namespace=name, user=LEARNER,
        )  # fmt: skip


def _network_policies() -> list[dict[str, Any]]:
    """Traffic into a session's pods from its own namespace and from the mesh's only."""
    return [{
        "metadata": {"name": "session-isolation"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [
                {"podSelector": {}},
                {"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "istio-system"}}},
            ]}],
        },
    }]  # fmt: skip
