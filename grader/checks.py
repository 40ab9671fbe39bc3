"""Declarative checks, written in a step's front matter, evaluated on the live cluster.

::

    checks:
      - check: resource              # the object exists (or, with exists: false, does not)
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        namespace: default           # default: default (ignored for cluster-scoped kinds)
        name: reviews
        fields:                      # optional: dotted paths, [i] for list items
          spec.http[0].route[0].weight: 80
        message: Route 80% of traffic to v1.   # the check's name on the page
        hint: Edit the weights in the VirtualService.

A check reads the cluster through the Kubernetes API, as the learner's own
kubectl does, so it works on every backend.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from grader.results import CheckResult

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class CheckSpecError(ValueError):
    """A check written wrongly; the message says which key and why."""


@dataclass(frozen=True)
class ResourceCheck:
    api_version: str
    kind: str
    object_name: str
    namespace: str = "default"
    exists: bool = True
    fields: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    hint: str = ""

    @property
    def display(self) -> str:
        return f"{self.kind} {self.object_name}"

    @property
    def title(self) -> str:
        """The check's name on the page: the author's message, or what it asserts."""
        return self.message or (
            f"{self.display} exists" if self.exists else f"{self.display} is gone"
        )

    def run(self, client: DynamicClient) -> CheckResult:
        title = self.title
        try:
            resource = client.resources.get(api_version=self.api_version, kind=self.kind)
        except ResourceNotFoundError:
            return CheckResult(
                title, False, f"the cluster serves no {self.kind} in {self.api_version}", self.hint
            )
        namespace = self.namespace if resource.namespaced else None
        where = f" in namespace {namespace}" if namespace else ""
        try:
            obj = resource.get(name=self.object_name, namespace=namespace).to_dict()
        except NotFoundError:
            if not self.exists:
                return CheckResult(title, True, f"no {self.display}{where}")
            return CheckResult(title, False, f"there is no {self.display}{where}", self.hint)
        if not self.exists:
            return CheckResult(title, False, f"{self.display} still exists{where}", self.hint)
        for path, expected in self.fields.items():
            actual = field_value(obj, path)
            if actual != expected:
                seen = "is not set" if actual is _MISSING else f"is {json.dumps(actual)}"
                return CheckResult(
                    title, False, f"{path} {seen}, expected {json.dumps(expected)}", self.hint
                )
        detail = ", ".join(f"{p} = {json.dumps(v)}" for p, v in self.fields.items())
        return CheckResult(
            title, True, f"{self.display}{where}" + (f": {detail}" if detail else "")
        )


_MISSING = object()


def field_value(obj: Any, path: str) -> Any:
    """``spec.http[0].route[0].weight`` in ``obj``, or a marker when any part is absent."""
    value = obj
    for key, index in _PATH_PART.findall(path):
        if key:
            if not isinstance(value, dict) or key not in value:
                return _MISSING
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
    return value


_RESOURCE_KEYS = {
    "check",
    "apiVersion",
    "kind",
    "name",
    "namespace",
    "exists",
    "fields",
    "message",
    "hint",
}


def parse_check(spec: Any) -> ResourceCheck:
    """A check from its front-matter form; raises CheckSpecError naming the problem."""
    if not isinstance(spec, dict):
        raise CheckSpecError(f"a check must be a mapping, not {json.dumps(spec)}")
    kind = spec.get("check")
    if kind != "resource":
        raise CheckSpecError(f"unknown check {kind!r}: this version knows 'resource'")
    unknown = sorted(set(spec) - _RESOURCE_KEYS)
    if unknown:
        raise CheckSpecError(f"unknown key(s) {', '.join(unknown)} in a resource check")
    for key in ("apiVersion", "kind", "name"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise CheckSpecError(f"a resource check needs '{key}'")
    fields = spec.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
        raise CheckSpecError("'fields' must map dotted paths to expected values")
    return ResourceCheck(
        api_version=spec["apiVersion"],
        kind=spec["kind"],
        object_name=spec["name"],
        namespace=str(spec.get("namespace") or "default"),
        exists=bool(spec.get("exists", True)),
        fields=dict(fields),
        message=str(spec.get("message") or ""),
        hint=str(spec.get("hint") or ""),
    )
