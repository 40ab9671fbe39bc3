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
        with pytest.raises(k8s.ApiException) as refused:  # who it is, yes; allowed, not yet
            k8s.CoreV1Api(as_pod).list_namespace()
        assert refused.value.status == 403
        assert 'User \\"system:serviceaccount:default:reader\\" cannot list' in refused.value.body
        k8s.RbacAuthorizationV1Api(cluster.api_client).create_cluster_role_binding({
            "metadata": {"name": "reader-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}],
        })  # fmt: skip
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


def raw(
    cluster: LiveCluster, method: str, path: str, body: bytes, content_type: str
) -> tuple[int, dict]:
    """A request with an arbitrary body, as a misbehaving client would send it."""
    token = (cluster.kubeconfig.parent / "pki" / "token").read_text().strip()
    context = ssl.create_default_context(cafile=str(cluster.kubeconfig.parent / "pki" / "ca.crt"))
    request = urllib.request.Request(
        f"{cluster.info.server}{path}",
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_malformed_bodies_are_bad_requests_and_store_nothing(cluster: LiveCluster) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    code, status = raw(cluster, "POST", path, b'{"metadata": {"name": "x"', "application/json")
    assert (code, status["reason"]) == (400, "BadRequest")
    assert "not valid JSON" in status["message"]
    code, status = raw(cluster, "POST", path, b"[1, 2]", "application/json")
    assert code == 400 and "must be a JSON object" in status["message"]
    code, status = raw(cluster, "POST", path, b"data: [", "application/yaml")
    assert code == 400 and "not valid YAML" in status["message"]
    code, status = raw(cluster, "POST", path, b"x", "text/plain")
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    names = [
        c.metadata.name
        for c in k8s.CoreV1Api(cluster.api_client).list_namespaced_config_map("default").items
    ]
    assert names == ["kube-root-ca.crt"]


def test_a_watch_from_a_nonsense_version_is_refused_before_streaming(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    with pytest.raises(k8s.ApiException) as refused:
        for _ in k8s_watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version="-5", timeout_seconds=5
        ):
            pass
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["message"] == 'invalid resource version "-5"'


def test_a_new_crd_registers_its_kind(cluster: LiveCluster) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {
                "plural": "widgets",
                "singular": "widget",
                "kind": "Widget",
                "shortNames": ["wd"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    k8s.ApiextensionsV1Api(cluster.api_client).create_custom_resource_definition(crd)
    custom = k8s.CustomObjectsApi(cluster.api_client)
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)
    listed = cluster.kubectl("get", "wd").stdout
    assert "w1" in listed
    bad = {**widget, "metadata": {"name": "w2"}, "spec": {"size": "big"}}
    with pytest.raises(k8s.ApiException) as refused:
        custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", bad)
    assert refused.value.status == 422
    assert "spec.size in body must be of type integer" in json.loads(refused.value.body)["message"]
    k8s.ApiextensionsV1Api(cluster.api_client).delete_custom_resource_definition(
        "widgets.example.com"
    )
    gone = cluster.kubectl("get", "wd", check=False)
    assert gone.returncode == 1 and "could not find the requested resource" in gone.stderr


def test_watch_list_sends_initial_events_then_the_end_bookmark(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    for name in ("one", "two"):
        core.create_namespaced_config_map("default", configmap(name))
    query = (
        "watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"
    )
    token = (cluster.kubeconfig.parent / "pki" / "token").read_text().strip()
    context = ssl.create_default_context(cafile=str(cluster.kubeconfig.parent / "pki" / "ca.crt"))
    request = urllib.request.Request(
        f"{cluster.info.server}/api/v1/namespaces/default/configmaps?{query}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, context=context) as response:
        events = [json.loads(line) for line in response.read().splitlines() if line]
    kinds = [(e["type"], e["object"]["metadata"].get("name")) for e in events]
    assert kinds[:3] == [("ADDED", "kube-root-ca.crt"), ("ADDED", "one"), ("ADDED", "two")]
    assert kinds[3][0] == "BOOKMARK"
    bookmark = events[3]["object"]
    assert bookmark["kind"] == "ConfigMap"
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    code, status = raw(
        cluster,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true",
        b"",
        "application/json",
    )
    assert (code, status["reason"]) == (422, "Invalid")  # needs resourceVersionMatch, as upstream


def test_lists_page_with_limit_and_continue(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    for i in range(7):
        core.create_namespaced_config_map("default", configmap(f"page-{i}"))
    first = core.list_namespaced_config_map("default", limit=3)
    assert len(first.items) == 3 and first.metadata._continue
    assert first.metadata.remaining_item_count == 5  # 8 in all, kube-root-ca.crt included
    names = [c.metadata.name for c in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map("default", limit=3, _continue=token)
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert names == ["kube-root-ca.crt"] + [f"page-{i}" for i in range(7)]


def test_only_finalize_changes_a_namespaces_finalizers(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    core.create_namespace({"metadata": {"name": "held"}})
    plain = core.replace_namespace(
        "held", {"metadata": {"name": "held", "labels": {"x": "1"}}, "spec": {"finalizers": []}}
    )
    assert plain.spec.finalizers == ["kubernetes"] and plain.metadata.labels["x"] == "1"
    finalized = core.replace_namespace_finalize(
        "held", {"metadata": {"name": "held"}, "spec": {"finalizers": []}}
    )
    assert not finalized.spec.finalizers
    assert finalized.metadata.labels["x"] == "1"  # finalize touches nothing else
