"""OpenAPI v3 documents, what kubectl downloads to validate ``apply`` and to ``explain``.

kubectl reads ``/openapi/v3`` for the list of group-versions, then the
document of each group-version it needs. A document holds one schema per
kind (named like upstream's, tagged with ``x-kubernetes-group-version-kind``)
and a PATCH operation per resource path that accepts ``fieldValidation``,
which tells kubectl the server validates fields itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_GROUP_PACKAGES = {
    "": "io.k8s.api.core",
    "apps": "io.k8s.api.apps",
    "discovery.k8s.io": "io.k8s.api.discovery",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "admissionregistration.k8s.io": "io.k8s.api.admissionregistration",
    "authentication.k8s.io": "io.k8s.api.authentication",
    "autoscaling": "io.k8s.api.autoscaling",
}


@dataclass(frozen=True)
class KindSchema:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: dict[str, Any]

    @property
    def schema_name(self) -> str:
        package = _GROUP_PACKAGES.get(self.group)
        if package is None:  # custom resources: reversed group, as upstream names them
            package = ".".join(reversed(self.group.split(".")))
        return f"{package}.{self.version}.{self.kind}"

    @property
    def group_version_path(self) -> str:
        return f"api/{self.version}" if not self.group else f"apis/{self.group}/{self.version}"


def openapi_index(kinds: Sequence[KindSchema]) -> dict[str, Any]:
    """``/openapi/v3``: each group-version with a URL whose hash changes with its content."""
    paths: dict[str, Any] = {}
    for path in sorted({k.group_version_path for k in kinds}):
        members = [k for k in kinds if k.group_version_path == path]
        digest = hashlib.sha256(
            json.dumps([(k.kind, k.schema) for k in members], sort_keys=True).encode()
        ).hexdigest()[:32]
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": paths}


def openapi_document(group: str, version: str, kinds: Sequence[KindSchema]) -> dict[str, Any]:
    """The document of one group-version."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for kind in kinds:
        gvk = [{"group": kind.group, "version": kind.version, "kind": kind.kind}]
        schemas[kind.schema_name] = {**kind.schema, "x-kubernetes-group-version-kind": gvk}
        ref = {"$ref": f"#/components/schemas/{kind.schema_name}"}
        prefix = f"/{kind.group_version_path}"
        item = (
            f"{prefix}/namespaces/{{namespace}}/{kind.plural}/{{name}}"
            if kind.namespaced
            else (f"{prefix}/{kind.plural}/{{name}}")
        )
        operation = {
            "operationId": f"patch{kind.kind}",
            "parameters": [
                {
                    "name": "fieldValidation",
                    "in": "query",
                    "schema": {"type": "string", "uniqueItems": True},
                    "description": "Strict, Warn or Ignore",
                },
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            ],
            "requestBody": {"content": {"application/merge-patch+json": {"schema": ref}}},
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": ref}}}
            },
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk[0],
        }
        paths[item] = {"patch": operation}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
