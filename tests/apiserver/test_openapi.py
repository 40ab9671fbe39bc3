"""OpenAPI v3: documents kubectl accepts for apply validation and walks for explain."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from labplatform.clusters.embedded.apiserver.builtin_schemas import (
    BUILTIN_SCHEMAS,
    custom_resource_schema,
)
from labplatform.clusters.embedded.apiserver.crds import istio_crds
from labplatform.clusters.embedded.apiserver.openapi import (
    KindSchema,
    openapi_document,
    openapi_index,
)
from labplatform.clusters.embedded.apiserver.registry import BUILTIN
from labplatform.clusters.embedded.apiserver.schema import GO_TYPE
from tests.apiserver.conftest import KUBECTL, kubectl_env
from tests.helpers import JsonRequestHandler


def virtual_service() -> KindSchema:
    crd = next(c for c in istio_crds() if c["spec"]["names"]["kind"] == "VirtualService")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    names = ("networking.istio.io", "v1", "VirtualService", "virtualservices")
    return KindSchema(*names, namespaced=True, schema=custom_resource_schema(schema))


KINDS = [
    KindSchema(r.group, "v1", r.kind, r.plural, r.namespaced, BUILTIN_SCHEMAS[key])
    for r in BUILTIN
    if (key := f"{r.group}/v1/{r.kind}") in BUILTIN_SCHEMAS
] + [virtual_service()]


def walk(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_index_lists_every_group_version_at_a_content_addressed_url() -> None:
    paths = openapi_index(KINDS)["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/networking.istio.io/v1"} <= set(paths)
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    changed = [
        KindSchema(
            k.group, k.version, k.kind, k.plural, k.namespaced, {**k.schema, "description": "x"}
        )
        if k.kind == "Deployment"
        else k
        for k in KINDS
    ]
    again = openapi_index(changed)["paths"]
    assert again["apis/apps/v1"]["serverRelativeURL"] != url
    assert again["api/v1"] == paths["api/v1"]


def test_document_names_kinds_and_types_as_upstream() -> None:
    document = openapi_document("apps", "v1", KINDS)
    assert document["openapi"] == "3.0.0"
    schemas = document["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}
    ]
    strategy = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}
    ]
    assert strategy["description"].startswith("The deployment strategy to use")
    assert "io.k8s.api.core.v1.PodSpec" in schemas and "io.k8s.api.core.v1.Pod" not in schemas
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert (
        containers["x-kubernetes-patch-merge-key"],
        containers["x-kubernetes-patch-strategy"],
    ) == (
        "name",
        "merge",
    )
    refs = {n["$ref"].rsplit("/", 1)[1] for n in walk(document) if "$ref" in n}
    assert refs <= set(schemas)
    assert not [n for n in walk(document) if GO_TYPE in n]


def test_patch_operations_accept_field_validation() -> None:
    for group, kind, path, strategic in (
        ("apps", "Deployment", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", True),
        ("", "Namespace", "/api/v1/namespaces/{name}", True),
        (
            "networking.istio.io",
            "VirtualService",
            "/apis/networking.istio.io/v1/namespaces/{namespace}/virtualservices/{name}",
            False,
        ),
    ):
        patch = openapi_document(group, "v1", KINDS)["paths"][path]["patch"]
        assert patch["x-kubernetes-group-version-kind"] == {
            "group": group,
            "version": "v1",
            "kind": kind,
        }
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
        content = patch["requestBody"]["content"]
        assert ("application/strategic-merge-patch+json" in content) is strategic
        assert "application/merge-patch+json" in content


class _Discovery(JsonRequestHandler):
    """Legacy discovery and the OpenAPI documents: all `kubectl explain` reads."""

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        groups = sorted({k.group for k in KINDS if k.group})
        found: dict[str, Any] = {
            "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
            "/apis": {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                        "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"},
                    }
                    for g in groups
                ],
            },
            "/openapi/v3": openapi_index(KINDS),
        }
        for group in ["", *groups]:
            prefix = f"/apis/{group}/v1" if group else "/api/v1"
            found[prefix] = {
                "kind": "APIResourceList",
                "groupVersion": f"{group}/v1".lstrip("/"),
                "resources": [
                    {
                        "name": k.plural,
                        "singularName": k.kind.lower(),
                        "namespaced": k.namespaced,
                        "kind": k.kind,
                        "verbs": ["get", "list", "patch"],
                    }
                    for k in KINDS
                    if k.group == group
                ],
            }
            found[f"/openapi/v3{prefix}"] = openapi_document(group, "v1", KINDS)
        self.send_json(200 if path in found else 404, found.get(path, {}))


@pytest.fixture
def explain(tmp_path: Path) -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
                ],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    env = kubectl_env(kubeconfig, tmp_path)

    def run(target: str) -> str:
        result = subprocess.run(
            [KUBECTL, "explain", target],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    try:
        yield run
    finally:
        server.shutdown()


def test_kubectl_explain_walks_the_documents(explain: Any) -> None:
    strategy = explain("deployment.spec.strategy")
    assert strategy.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n")
    assert "FIELD: strategy <DeploymentStrategy>" in strategy
    assert "rollingUpdate\t<RollingUpdateDeployment>" in strategy
    assert "type\t<string>\n  enum: Recreate, RollingUpdate" in strategy
    ports = explain("pods.spec.containers.ports")
    assert "FIELD: ports <[]ContainerPort>" in ports
    assert "containerPort\t<integer> -required-" in ports
    hosts = explain("virtualservice.spec.hosts")
    assert "GROUP:      networking.istio.io" in hosts and "FIELD: hosts <[]string>" in hosts
    assert "metadata\t<ObjectMeta>" in explain("virtualservice")
