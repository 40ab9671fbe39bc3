"""The official Python client against a live embedded API server."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from tests.apiserver.conftest import LiveCluster


def configmap(name: str, value: str = "1") -> dict:
    return {"metadata": {"name": name}, "data": {"value": value}}


def events(core: k8s.CoreV1Api, count: int, **kwargs: object) -> list[tuple[str, str, str]]:
    """The first ``count`` events of a configmap watch as (type, name, value)."""
    seen = []
    stream = k8s_watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map, "default", timeout_seconds=10, **kwargs
    ):
        obj = event["object"]
        seen.append((event["type"], obj.metadata.name, (obj.data or {}).get("value", "")))
        if len(seen) == count:
            stream.stop()
    return seen


def test_watch_sees_changes_in_order_and_resumes_after_a_restart(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap("a"))
    core.patch_namespaced_config_map("a", "default", {"data": {"value": "2"}})
    core.delete_namespaced_config_map("a", "default")
    assert events(core, 3, resource_version=start) == [
        ("ADDED", "a", "1"),
        ("MODIFIED", "a", "2"),
        ("DELETED", "a", "2"),
    ]
    before_restart = core.create_namespaced_config_map("default", configmap("b"))
    rv = before_restart.metadata.resource_version
    cluster.restart()
    core = k8s.CoreV1Api(cluster.api_client)
    assert core.read_namespaced_config_map("b", "default").data == {"value": "1"}
    core.patch_namespaced_config_map("b", "default", {"data": {"value": "3"}})
    assert events(core, 1, resource_version=rv) == [("MODIFIED", "b", "3")]
    # the resourceVersion counter kept going across the restart
    assert int(core.read_namespaced_config_map("b", "default").metadata.resource_version) > int(rv)


def test_requests_without_the_token_are_refused(cluster: LiveCluster) -> None:
    ca = cluster.kubeconfig.parent / "pki" / "ca.crt"
    context = ssl.create_default_context(cafile=str(ca))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.info.server}/api/v1/namespaces", context=context)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["reason"] == "Unauthorized"
    with urllib.request.urlopen(f"{cluster.info.server}/healthz", context=context) as ok:
        assert ok.read() == b"ok"  # health stays public, as upstream


def test_service_account_tokens_are_issued_reviewed_and_accepted(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    core.create_namespaced_service_account("default", {"metadata": {"name": "pilot"}})
    request = core.create_namespaced_service_account_token(
        "pilot", "default", {"spec": {"audiences": ["istio-ca"], "expirationSeconds": 3600}}
    )
    token = request.status.token
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == "system:serviceaccount:default:pilot"
    auth = k8s.AuthenticationV1Api(cluster.api_client)
    review = auth.create_token_review({"spec": {"token": token, "audiences": ["istio-ca"]}})
    assert review.status.authenticated is True
    assert review.status.user.username == "system:serviceaccount:default:pilot"
    wrong = auth.create_token_review({"spec": {"token": token, "audiences": ["other"]}})
    assert wrong.status.authenticated is False and "audiences" in wrong.status.error
    core.delete_namespaced_service_account("pilot", "default")
    revoked = auth.create_token_review({"spec": {"token": token, "audiences": ["istio-ca"]}})
    assert revoked.status.authenticated is False
    assert revoked.status.error == "service account has been deleted"


def test_a_pod_token_authenticates_to_the_api(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    core.create_namespaced_service_account("default", {"metadata": {"name": "reader"}})
    token = core.create_namespaced_service_account_token("reader", "default", {"spec": {}})
    configuration = k8s.Configuration()
    configuration.host = cluster.info.server
    configuration.ssl_ca_cert = str(cluster.kubeconfig.parent / "pki" / "ca.crt")
    configuration.api_key = {"authorization": f"Bearer {token.status.token}"}
    with k8s.ApiClient(configuration) as as_pod:
        names = [n.metadata.name for n in k8s.CoreV1Api(as_pod).list_namespace().items]
    assert "default" in names


def test_objects_keep_uid_and_creation_time_across_updates(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    created = core.create_namespaced_config_map("default", configmap("keep"))
    updated = core.replace_namespaced_config_map(
        "keep", "default", {"metadata": {"name": "keep", "uid": "forged"}, "data": {"value": "9"}}
    )
    assert updated.metadata.uid == created.metadata.uid
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)


def test_generate_name_label_selector_and_conflict(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    made = core.create_namespaced_config_map(
        "default", {"metadata": {"generateName": "job-", "labels": {"run": "1"}}}
    )
    assert made.metadata.name.startswith("job-") and len(made.metadata.name) == 9
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    listed = core.list_namespaced_config_map("default", label_selector="run=1").items
    assert [c.metadata.name for c in listed] == [made.metadata.name]
    with pytest.raises(k8s.ApiException) as exists:
        core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    assert exists.value.status == 409
    assert json.loads(exists.value.body)["reason"] == "AlreadyExists"
