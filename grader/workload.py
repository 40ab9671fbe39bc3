"""``check: workload``: a Deployment's pods are Running and Ready, with their sidecar if asked.

::

    - check: workload
      deployment: reviews-v2
      namespace: default
      sidecar: true                # every pod carries the mesh's istio-proxy container
      replicas: 1                  # at least this many ready pods (default 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError

from grader.context import CheckContext
from grader.results import CheckResult
from grader.spec import Spec

SIDECAR = "istio-proxy"
Obj = dict[str, Any]


@dataclass(frozen=True)
class WorkloadCheck:
    deployment: str
    namespace: str = "default"
    sidecar: bool = False
    replicas: int = 1
    message: str = ""
    hint: str = ""

    @classmethod
    def parse(cls, spec: Spec) -> WorkloadCheck:
        check = cls(
            deployment=spec.text("deployment"),
            namespace=spec.text("namespace", "default") or "default",
            sidecar=bool(spec.get("sidecar", False)),
            replicas=int(spec.number("replicas", 1)),
            message=spec.message,
            hint=spec.hint,
        )
        return check

    @property
    def title(self) -> str:
        with_sidecar = " with its sidecar" if self.sidecar else ""
        return self.message or f"{self.deployment} is running{with_sidecar}"

    def run(self, context: CheckContext) -> CheckResult:
        pods = deployment_pods(context, self.namespace, self.deployment)
        if pods is None:
            seen = f"no Deployment {self.deployment} in namespace {self.namespace}"
            return CheckResult(self.title, False, seen, self.hint)
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in live if _ready(p)]
        missing = [p["metadata"]["name"] for p in ready if self.sidecar and not _has_sidecar(p)]
        seen = f"{len(ready)} of {len(live)} pods ready"
        if len(ready) < self.replicas:
            return CheckResult(self.title, False, f"{seen} (expected {self.replicas})", self.hint)
        if missing:
            return CheckResult(
                self.title, False, f"no sidecar in {', '.join(missing)}: {seen}", self.hint
            )
        suffix = ", each with a sidecar" if self.sidecar else ""
        return CheckResult(self.title, True, seen + suffix)


def deployment_pods(context: CheckContext, namespace: str, name: str) -> list[Obj] | None:
    """The pods a Deployment selects (None when there is no such Deployment)."""
    deployments = context.client.resources.get(api_version="apps/v1", kind="Deployment")
    try:
        deployment = deployments.get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None
    labels = deployment["spec"]["selector"].get("matchLabels", {})
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    pods = context.client.resources.get(api_version="v1", kind="Pod")
    items: list[Obj] = pods.get(namespace=namespace, label_selector=selector).to_dict()["items"]
    return items


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def _has_sidecar(pod: Obj) -> bool:
    return any(c.get("name") == SIDECAR for c in pod["spec"].get("containers", []))
