"""``check: resource``: an object exists (or is gone), optionally with field values.

::

    - check: resource
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      namespace: default           # ignored for cluster-scoped kinds
      name: reviews
      exists: true                 # false: the object must be gone
      fields:                      # dotted paths, [i] for list items
        spec.http[0].route[0].weight: 80
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from grader.context import CheckContext
from grader.results import CheckResult
from grader.spec import Spec

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()


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

    @classmethod
    def parse(cls, spec: Spec) -> ResourceCheck:
        fields = spec.mapping("fields")
        return cls(
            api_version=spec.text("apiVersion"),
            kind=spec.text("kind"),
            object_name=spec.text("name"),
            namespace=spec.text("namespace", "default") or "default",
            exists=bool(spec.get("exists", True)),
            fields=dict(fields),
            message=spec.message,
            hint=spec.hint,
        )

    @property
    def display(self) -> str:
        return f"{self.kind} {self.object_name}"

    @property
    def title(self) -> str:
        """The check's name on the page: the author's message, or what it asserts."""
        return self.message or (
            f"{self.display} exists" if self.exists else f"{self.display} is gone"
        )

    def run(self, context: CheckContext) -> CheckResult:
        title = self.title
        try:
            resource = context.client.resources.get(api_version=self.api_version, kind=self.kind)
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


def missing(value: Any) -> bool:
    return value is _MISSING
