"""The kubernetes backend against a real Kubernetes API: an embedded cluster plays "the
existing cluster" a host would give it, with the mesh installed once.

The learner's side is exercised with the official Python client, as any
program in a session would: RBAC confines them to their namespace, the
quota refuses what goes over it, and exec and port-forward work through
the client's own websocket streams.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward, stream

from labplatform.app import max_sessions_for
from labplatform.clusters.backend import run_script
from labplatform.clusters.embedded.backend import EmbeddedBackend
from labplatform.clusters.kubernetes.backend import KubernetesBackend, SessionQuota
from labplatform.clusters.toolbox import NAME as TOOLBOX
from labplatform.settings import load_settings
from tests.helpers import REPO, VENV_BIN

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

QUOTA = SessionQuota(pods=4, cpu="1", memory="1Gi")


class Sessions:
    def __init__(self, backend: KubernetesBackend, names: tuple[str, str]) -> None:
        self.backend = backend
        self.one, self.two = names

    def learner(self, name: str) -> k8s.CoreV1Api:
        """The learner's own client: their token, from the kubeconfig the backend wrote."""
        api = k8s_config.new_client_from_config(str(self.backend.learner_kubeconfig(name)))
        return k8s.CoreV1Api(api)

    def wait_ready(self, name: str, pod: str) -> None:
        """Ready, not just running: its sidecar must be taking the pod's traffic."""
        core = self.learner(name)
        deadline = time.monotonic() + 120

        def ready() -> bool:
            conditions = core.read_namespaced_pod(pod, name).status.conditions or []
            return any(c.type == "Ready" and c.status == "True" for c in conditions)

        while not ready():
            assert time.monotonic() < deadline, f"pod {pod} did not become ready"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sessions]:
    root = tmp_path_factory.mktemp("existing")
    host = EmbeddedBackend(root / "host", memory_mb=1536)
    host.create("existing", lambda _: None)  # the host's cluster, mesh installed once
    try:
        kubeconfig = host.clusters.kubeconfig("existing")
        backend = KubernetesBackend(root / "server", kubeconfig, QUOTA)
        names = ("lp-ada", "lp-bob")
        for name in names:
            backend.create(name, lambda _: None)
        yield Sessions(backend, names)
    finally:
        host.delete("existing")


def forbidden(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ApiException) as refused:
        call(*args, **kwargs)  # type: ignore[operator]
    assert refused.value.status == 403, refused.value
    return str(refused.value.body)


def pod(name: str, image: str = "labplatform/whoami", cpu: str | None = None) -> dict[str, object]:
    container: dict[str, object] = {"name": "main", "image": image}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [container]}}  # fmt: skip


def test_each_session_is_a_namespace_the_learner_owns_and_nothing_else(sessions: Sessions) -> None:
    assert {sessions.one, sessions.two} <= sessions.backend.names()
    assert sessions.backend.running(sessions.one)
    ada = sessions.learner(sessions.one)
    names = [p.metadata.name for p in ada.list_namespaced_pod(sessions.one).items]
    assert TOOLBOX in names
    ada.create_namespaced_config_map(sessions.one, {"metadata": {"name": "notes"}})
    body = forbidden(ada.list_namespaced_pod, sessions.two)
    assert f'User \\"system:serviceaccount:{sessions.one}:learner\\" cannot list resource' in body
    assert f'in the namespace \\"{sessions.two}\\"' in body
    forbidden(ada.create_namespaced_config_map, "default", {"metadata": {"name": "mine"}})
    forbidden(ada.list_namespace)
    forbidden(ada.read_namespaced_secret, "istio-ca-secret", "istio-system")


def test_the_terminal_is_the_learners_shell_in_the_toolbox(sessions: Sessions) -> None:
    done = run_script(
        sessions.backend,
        sessions.one,
        f"kubectl get pods -o name; kubectl auth can-i create deployments; "
        f"kubectl get pods -n {sessions.two} 2>&1; kubectl auth can-i get pods -n {sessions.two}",
        60,
    )
    lines = done.stdout.splitlines()
    assert "pod/toolbox" in lines and lines.count("yes") == 1 and lines[-1] == "no", done
    assert f'cannot list resource "pods" in API group "" in the namespace "{sessions.two}"' in (
        done.stdout
    )


def test_the_quota_refuses_what_goes_over_it(sessions: Sessions) -> None:
    bob = sessions.learner(sessions.two)
    greedy = forbidden(bob.create_namespaced_pod, sessions.two, pod("greedy", cpu="2"))
    assert "exceeded quota: session, requested: requests.cpu=2" in greedy
    assert "limited: requests.cpu=1" in greedy
    small = bob.create_namespaced_pod(sessions.two, pod("small", image="labplatform/sleep"))
    defaults = small.spec.containers[0].resources
    assert defaults.requests == {"cpu": QUOTA.default_cpu, "memory": QUOTA.default_memory}
    assert defaults.limits == {"cpu": QUOTA.default_limit_cpu, "memory": QUOTA.default_limit_memory}
    created = 2  # the toolbox and "small"
    body = ""
    for number in range(QUOTA.pods):
        try:
            bob.create_namespaced_pod(sessions.two, pod(f"extra-{number}", "labplatform/sleep"))
            created += 1
        except ApiException as exc:
            body = str(exc.body)
            break
    assert created == QUOTA.pods, body
    assert f"exceeded quota: session, requested: pods=1, used: pods={QUOTA.pods}" in body

    def used() -> dict[str, str]:
        quota = bob.read_namespaced_resource_quota("session", sessions.two)
        return dict(quota.status.used or {}) if quota.status else {}

    deadline = time.monotonic() + 30
    while used().get("pods") != str(QUOTA.pods):  # what `kubectl describe quota` shows
        assert time.monotonic() < deadline, used()
        time.sleep(0.5)


def test_exec_and_port_forward_through_the_official_clients_streams(sessions: Sessions) -> None:
    ada = sessions.learner(sessions.one)
    said = stream(
        ada.connect_get_namespaced_pod_exec, TOOLBOX, sessions.one,
        command=["sh", "-c", "echo hello from $(hostname); kubectl get pods -o name | wc -l"],
        stderr=True, stdin=False, stdout=True, tty=False,
    )  # fmt: skip
    assert said.startswith("hello from toolbox"), said
    ada.create_namespaced_pod(sessions.one, pod("whoami"))
    sessions.wait_ready(sessions.one, "whoami")
    forward = portforward(
        ada.connect_get_namespaced_pod_portforward, "whoami", sessions.one, ports="80"
    )
    connection: socket.socket = forward.socket(80)
    connection.settimeout(30)
    connection.sendall(b"GET /hello HTTP/1.0\r\nHost: whoami\r\n\r\n")
    reply = b""
    while chunk := connection.recv(65536):
        reply += chunk
    connection.close()
    assert reply.startswith(b"HTTP/1.0 200"), (reply[:200], forward.error(80))
    assert b"Hostname: whoami" in reply and b"GET /hello" in reply, reply


def test_deleting_a_session_deletes_its_namespace(sessions: Sessions, tmp_path: Path) -> None:
    backend = sessions.backend
    backend.create("lp-brief", lambda _: None)
    assert "lp-brief" in backend.names()
    backend.delete("lp-brief")
    assert "lp-brief" not in backend.names()
    assert not backend.learner_kubeconfig("lp-brief").exists()
    backend.delete("lp-brief")  # twice is fine
    fits = backend.capacity()  # this host's cores and memory over one session's quota
    assert fits >= 1
    wishful = load_settings(data_dir=tmp_path, max_sessions=fits + 100)
    assert max_sessions_for(wishful, backend) == fits


def test_the_documented_deployment_is_accepted_by_the_cluster(sessions: Sessions) -> None:
    """docs/deploy/kubernetes.yaml, checked by the API server itself (a server-side dry run)."""
    assert sessions.backend.kubeconfig is not None
    # A dry run makes nothing, so the namespace the rest goes into must exist already.
    sessions.backend.core.create_namespace({"metadata": {"name": "labplatform"}})
    applied = subprocess.run(
        [str(VENV_BIN / "kubectl"), "--kubeconfig", str(sessions.backend.kubeconfig), "apply",
         "--dry-run=server", "-f", str(REPO / "docs/deploy/kubernetes.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/course-server created (server dry run)" in applied.stdout
