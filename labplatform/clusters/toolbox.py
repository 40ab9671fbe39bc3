"""The learner's terminal on real clusters: a shell in a ``toolbox`` pod, by the exec API.

The embedded backend's shell runs on the node itself; on kind and on an
existing cluster there is no node to log into, so each session gets a pod
of the ``labplatform/toolbox`` image (kubectl, meshctl, curl, jq, openssl)
running as a ServiceAccount whose rights are the learner's, and its shell
is reached as ``kubectl exec`` reaches any container.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from labplatform.clusters.backend import shell_prompt

NAME = "toolbox"
IMAGE = "labplatform/toolbox"
READY_SECONDS = 180.0


def pod(service_account: str) -> dict[str, Any]:
    """The toolbox pod: no sidecar (it stands for the learner's machine, outside the mesh)."""
    return {
        "metadata": {"name": NAME, "labels": {"app": NAME},
                     "annotations": {"sidecar.istio.io/inject": "false"}},
        "spec": {
            "serviceAccountName": service_account,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": NAME, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                            "command": ["sleep", "infinity"]}],
        },
    }  # fmt: skip


def running(core: k8s.CoreV1Api, namespace: str) -> bool:
    try:
        found = core.read_namespaced_pod(NAME, namespace)
    except ApiException:
        return False
    return bool(found.status and found.status.phase == "Running")


def wait_running(core: k8s.CoreV1Api, namespace: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not running(core, namespace):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the toolbox pod did not start in {READY_SECONDS:.0f} s")
        time.sleep(0.5)


def shell_command(
    kubeconfig: Path, namespace: str, prompt: str, command: Sequence[str] = ()
) -> list[str]:
    """``kubectl exec`` into the toolbox: an interactive shell, or ``command``."""
    interactive = not command
    inside = list(command) or [
        "env", *(f"{k}={v}" for k, v in shell_prompt(prompt).items()), "bash", "--norc", "-i",
    ]  # fmt: skip
    return [
        "kubectl", "--kubeconfig", str(kubeconfig), "exec", "-i",
        *(["-t"] if interactive else []), "-n", namespace, NAME, "--", *inside,
    ]  # fmt: skip
