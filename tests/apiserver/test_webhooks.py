"""Admission webhooks: a small real HTTPS hook, registered the way Istio registers its own."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labplatform.clusters.embedded.pki import ClusterCredentials
from tests.apiserver.conftest import LiveCluster, serve_in_thread
from tests.helpers import JsonRequestHandler


class Hook(JsonRequestHandler):
    """Adds a label on /mutate; refuses ConfigMaps holding a `forbidden` key on /validate."""

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        response: dict = {"uid": request["uid"], "allowed": True}
        if urlsplit(self.path).path == "/mutate":  # the server adds ?timeout=10s
            labels = request["object"]["metadata"].get("labels")
            patch = (
                [{"op": "add", "path": "/metadata/labels", "value": {}}] if labels is None else []
            )
            patch.append({"op": "add", "path": "/metadata/labels/injected", "value": "yes"})
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        elif "forbidden" in (request["object"].get("data") or {}):
            response = {
                "uid": request["uid"],
                "allowed": False,
                "status": {"code": 400, "message": "the key 'forbidden' is not allowed"},
            }
        self.send_json(200, {**review, "response": response})


@pytest.fixture
def hook_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(https base URL, caBundle) of a webhook server on loopback with its own CA."""
    credentials = ClusterCredentials.load_or_create(tmp_path / "hook-pki")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(credentials.server_cert_path, credentials.server_key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ca_bundle = base64.b64encode(credentials.ca_pem).decode()
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_bundle
    finally:
        server.shutdown()
        thread.join(timeout=5)


def webhook(kind: str, url: str, ca_bundle: str, policy: str = "Fail") -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": f"test-{kind.lower()}"},
        "webhooks": [
            {
                "name": f"{kind.lower()}.test.labplatform.dev",
                "clientConfig": {"url": url, "caBundle": ca_bundle},
                "rules": [
                    {
                        "operations": ["CREATE", "UPDATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["configmaps"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"hooked": "true"}},
                "failurePolicy": policy,
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
            }
        ],
    }


@pytest.fixture
def host_api(tmp_path: Path) -> Iterator[k8s.ApiClient]:
    """An API server on the host's loopback, where the hook server is.

    A cluster's own API server lives in its sandbox and reaches webhooks
    inside the cluster only, as an in-cluster webhook Service would be.
    """
    with serve_in_thread(tmp_path / "api") as kubeconfig:
        api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        try:
            yield api_client
        finally:
            api_client.close()


def test_mutating_and_validating_hooks_apply_where_selected(
    host_api: k8s.ApiClient, hook_server: tuple[str, str]
) -> None:
    url, ca_bundle = hook_server
    core = k8s.CoreV1Api(host_api)
    admission = k8s.AdmissionregistrationV1Api(host_api)
    admission.create_mutating_webhook_configuration(
        webhook("MutatingWebhookConfiguration", f"{url}/mutate", ca_bundle)
    )
    admission.create_validating_webhook_configuration(
        webhook("ValidatingWebhookConfiguration", f"{url}/validate", ca_bundle)
    )
    core.create_namespace({"metadata": {"name": "hooked", "labels": {"hooked": "true"}}})
    made = core.create_namespaced_config_map("hooked", {"metadata": {"name": "a"}})
    assert made.metadata.labels == {"injected": "yes"}
    plain = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert not plain.metadata.labels  # the namespace selector leaves default alone
    with pytest.raises(k8s.ApiException) as refused:
        core.create_namespaced_config_map(
            "hooked", {"metadata": {"name": "b"}, "data": {"forbidden": "1"}}
        )
    status = json.loads(refused.value.body)
    assert refused.value.status == 400
    assert status["message"] == (
        'admission webhook "validatingwebhookconfiguration.test.labplatform.dev" denied the '
        "request: the key 'forbidden' is not allowed"
    )
    assert [
        c.metadata.name
        for c in core.list_namespaced_config_map("hooked").items
        if c.metadata.name in ("a", "b")
    ] == ["a"]


def test_an_unreachable_hook_fails_closed_or_is_ignored_by_policy(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    admission = k8s.AdmissionregistrationV1Api(cluster.api_client)
    core.create_namespace({"metadata": {"name": "hooked", "labels": {"hooked": "true"}}})
    closed = webhook("ValidatingWebhookConfiguration", "https://127.0.0.1:9/validate", "")
    admission.create_validating_webhook_configuration(closed)
    with pytest.raises(k8s.ApiException) as failed:
        core.create_namespaced_config_map("hooked", {"metadata": {"name": "x"}})
    assert failed.value.status == 500
    assert "failed calling webhook" in json.loads(failed.value.body)["message"]
    admission.delete_validating_webhook_configuration(closed["metadata"]["name"])
    ignored = webhook("ValidatingWebhookConfiguration", "https://127.0.0.1:9/v", "", "Ignore")
    admission.create_validating_webhook_configuration(ignored)
    assert core.create_namespaced_config_map("hooked", {"metadata": {"name": "x"}})
