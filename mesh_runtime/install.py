"""Installing the control plane: the bundled manifests, applied server-side.

``meshctl install`` and ``labplatform cluster create --mesh`` both come here,
so a cluster made with the mesh and one given it later are the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources

import yaml
from kubernetes import client as k8s

from mesh_runtime import kube

READY_TIMEOUT = 90.0
CONTROL_PLANE = ("istiod", "istio-citadel", "istio-mixer", "istio-ingressgateway")


def manifests() -> list[dict[str, object]]:
    text = resources.files("mesh_runtime").joinpath("manifests/istio-system.yaml").read_text()
    return [document for document in yaml.safe_load_all(text) if document]


def install(client: k8s.ApiClient, progress: Callable[[str], None], wait: bool = False) -> None:
    for applied in kube.apply(client, manifests()):
        progress(f"{applied} applied")
    if wait:
        apps = k8s.AppsV1Api(client)
        deadline = time.monotonic() + READY_TIMEOUT
        for name in CONTROL_PLANE:
            while not (apps.read_namespaced_deployment(name, "istio-system").status
                       .available_replicas or 0):  # fmt: skip
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} did not become available in {READY_TIMEOUT:.0f} s")
                time.sleep(0.2)
            progress(f"{name} is available")
