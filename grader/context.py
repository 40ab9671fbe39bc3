"""Where a check looks: the learner's cluster, reached as the learner reaches it.

Checks read objects through the cluster's Kubernetes API (as the learner's
kubectl does) and send traffic from a shell where the learner's shell runs
(so a request leaves from the same place, through the same mesh). The
course server builds a context from its backend; ``course play`` the same.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes.dynamic import DynamicClient

from labkit.kubeapi import get_raw

API_TIMEOUT = 15.0
Shell = Callable[[str, float], tuple[int, str]]  # a bash script, a timeout -> (status, output)


@dataclass(frozen=True)
class CheckContext:
    client: DynamicClient
    shell: Shell
    lab_dir: Path | None = None  # where a lab's Python checks live

    def api_get(self, path: str) -> str:
        """``GET path`` on the cluster's API (``kubectl get --raw``): text, e.g. a proxied page."""
        return get_raw(self.client.client, path, timeout=API_TIMEOUT).decode()


def local_shell(kubeconfig: Path) -> Shell:
    """A shell on this host with ``kubeconfig``, for a cluster known only by its kubeconfig.

    Traffic from a pod works the same (``kubectl exec``); traffic ``from: node``
    and mTLS probes need the cluster's network, which only a backend's shell has.
    """

    def run(script: str, timeout: float) -> tuple[int, str]:
        try:
            done = subprocess.run(
                ["bash", "-c", script],
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                check=False,
            )
        except subprocess.TimeoutExpired:
            return 124, f"timed out after {timeout:g} s"
        return done.returncode, done.stdout + done.stderr

    return run
