"""OpenAPI v3 documents: what kubectl downloads to validate ``apply`` and to ``explain``.

kubectl reads ``/openapi/v3`` for the list of group-versions, then the
document of each group-version it needs. Two things in a document matter:

* a PATCH operation per resource, tagged with the kind's
  ``x-kubernetes-group-version-kind`` and accepting ``fieldValidation``:
  finding it, ``kubectl apply`` leaves field validation to the server (and
  sends ``fieldValidation=Strict``) instead of failing to validate locally;
* ``components.schemas``, one per kind under upstream's name
  (``io.k8s.api.apps.v1.Deployment``) and tagged with its group-version-kind,
  which ``kubectl explain`` walks. Schema nodes marked with their Go type
  become named components referenced through ``allOf``/``$ref`` as upstream
  publishes them, so explain prints ``strategy <DeploymentStrategy>``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labplatform.clusters.embedded.apiserver.schema import GO_TYPE, INT_OR_STRING, QUANTITY

Schema = dict[str, Any]

_STRING = {"type": "string", "uniqueItems": True}
_PATH_PARAMETERS = {
    "name": "name of the object",
    "namespace": "object name and auth scope, such as for teams and projects",
}
_QUERY_PARAMETERS = {
    "dryRun": "When present, indicates that modifications should not be persisted. The only "
    "valid value is All.",
    "fieldManager": "A name associated with the actor or entity making these changes.",
    "fieldValidation": "How the server handles unknown or duplicate fields in the request: "
    "Ignore drops them silently, Warn (the default) drops them with a warning for each, "
    "Strict fails the request with a BadRequest naming them.",
    "force": 'Force is going to "force" Apply requests: re-acquire conflicting fields owned '
    "by other people. Must be unset for non-apply patch requests.",
}
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


@dataclass(frozen=True)
class KindSchema:
    """One kind at one served version, with its structural schema."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: Schema

    @property
    def schema_name(self) -> str:
        """Upstream's component name: the Go type's for built-ins, the reversed group's for CRs."""
        marked = self.schema.get(GO_TYPE)
        if marked:
            return str(marked)
        package = ".".join(reversed(self.group.split("."))) if self.group else "io.k8s.api.core"
        return f"{package}.{self.version}.{self.kind}"

    @property
    def group_version_path(self) -> str:
        return f"api/{self.version}" if not self.group else f"apis/{self.group}/{self.version}"

    @property
    def gvk(self) -> dict[str, str]:
        return {"group": self.group, "version": self.version, "kind": self.kind}


def openapi_index(kinds: Sequence[KindSchema]) -> dict[str, Any]:
    """``/openapi/v3``: each group-version, at a URL whose hash changes with its document."""
    paths: dict[str, Any] = {}
    for path in sorted({k.group_version_path for k in kinds}):
        members = [k for k in kinds if k.group_version_path == path]
        document = openapi_document(members[0].group, members[0].version, members)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": paths}


def _is_component(node: Schema) -> bool:
    """Upstream publishes structs and the apimachinery scalar types as named components."""
    marked = node.get(GO_TYPE)
    struct = node.get("type") == "object" and "additionalProperties" not in node
    return bool(marked) and (struct or marked in (INT_OR_STRING, QUANTITY))


def _hoist(node: Any, components: dict[str, Schema]) -> Any:
    """``node`` with marked types moved into ``components`` and referenced from their uses."""
    if isinstance(node, list):
        return [_hoist(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    body = {key: _hoist(value, components) for key, value in node.items() if key != GO_TYPE}
    if not _is_component(node):
        return body
    name = node[GO_TYPE]
    description = body.pop("description", None)  # the use's words; the type keeps none
    components.setdefault(name, body)
    stub: Schema = {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}
    if description:
        stub["description"] = description
    return stub


def _patch_operation(kind: KindSchema) -> Schema:
    ref = {"$ref": f"#/components/schemas/{kind.schema_name}"}
    body = {"schema": {"type": "object"}}
    patch_types = _PATCH_TYPES if GO_TYPE in kind.schema else _PATCH_TYPES[:3]
    scope = "Namespaced" if kind.namespaced else ""
    return {
        "tags": [kind.group_version_path.replace("/", "_")],
        "description": f"partially update the specified {kind.kind}",
        "operationId": f"patch{scope}{kind.kind}",
        "parameters": [
            {"name": name, "in": "query", "description": text, "schema": _STRING}
            for name, text in _QUERY_PARAMETERS.items()
        ],
        "requestBody": {"content": dict.fromkeys(patch_types, body), "required": True},
        "responses": {
            code: {"description": text, "content": {"application/json": {"schema": ref}}}
            for code, text in (("200", "OK"), ("201", "Created"))
        },
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": kind.gvk,
    }


def _item_path(kind: KindSchema) -> tuple[str, Schema]:
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    path = f"/{kind.group_version_path}{scope}/{kind.plural}/{{name}}"
    names = ("name", "namespace") if kind.namespaced else ("name",)
    parameters = [
        {
            "name": name,
            "in": "path",
            "description": _PATH_PARAMETERS[name],
            "required": True,
            "schema": _STRING,
        }
        for name in names
    ]
    return path, {"parameters": parameters, "patch": _patch_operation(kind)}


def openapi_document(group: str, version: str, kinds: Sequence[KindSchema]) -> dict[str, Any]:
    """The document of one group-version: its kinds' schemas and PATCH operations."""
    components: dict[str, Schema] = {}
    paths: dict[str, Schema] = {}
    for kind in kinds:
        if (kind.group, kind.version) != (group, version):
            continue
        body = {k: _hoist(v, components) for k, v in kind.schema.items() if k != GO_TYPE}
        components[kind.schema_name] = {**body, "x-kubernetes-group-version-kind": [kind.gvk]}
        path, item = _item_path(kind)
        paths[path] = item
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items()))},
    }
