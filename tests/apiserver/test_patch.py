"""Patches as kubectl sends them, applied the way the real server applies them."""

import pytest

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.patch import (
    json_merge_patch,
    json_patch,
    record_update,
    server_side_apply,
    strategic_merge_patch,
)

DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "finalizers": ["a"]},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "web:1",
                        "env": [{"name": "MODE", "value": "demo"}, {"name": "KEEP", "value": "1"}],
                        "ports": [{"containerPort": 80}],
                    },
                    {"name": "sidecar", "image": "proxy:1"},
                ]
            }
        }
    },
}


def test_kubectl_apply_patch_changes_one_container_and_deletes_an_env_var() -> None:
    # what `kubectl apply` sends after the image changed and MODE was removed
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "KEEP"}],
                            "env": [{"$patch": "delete", "name": "MODE"}],
                            "image": "web:2",
                            "name": "web",
                        }
                    ],
                }
            }
        }
    }
    result = strategic_merge_patch(DEPLOY, patch, "Deployment")
    web, sidecar = result["spec"]["template"]["spec"]["containers"]
    assert web["image"] == "web:2" and web["env"] == [{"name": "KEEP", "value": "1"}]
    assert web["ports"] == [{"containerPort": 80}]  # untouched lists stay
    assert sidecar == {"name": "sidecar", "image": "proxy:1"}
    assert DEPLOY["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"  # not mutated


def test_strategic_directives_replace_and_finalizers_merge_as_a_set() -> None:
    patch = {
        "metadata": {"finalizers": ["b", "a"]},
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}
            }
        },
    }
    result = strategic_merge_patch(DEPLOY, patch, "Deployment")
    assert result["metadata"]["finalizers"] == ["a", "b"]
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_strategic_merge_is_refused_for_custom_resources() -> None:
    with pytest.raises(ApiError) as err:
        strategic_merge_patch({"spec": {}}, {"spec": {"a": 1}}, "VirtualService")
    assert err.value.code == 415


def test_json_merge_patch_rfc7386_examples() -> None:
    original = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert json_merge_patch(original, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert json_merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}


def test_json_patch_rfc6902_operations_and_failures() -> None:
    doc = {"foo": ["bar", "baz"], "a/b": 1}
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/foo/1", "value": "qux"},
            {"op": "remove", "path": "/a~1b"},
            {"op": "copy", "from": "/foo/0", "path": "/first"},
            {"op": "move", "from": "/first", "path": "/moved"},
            {"op": "test", "path": "/moved", "value": "bar"},
            {"op": "add", "path": "/foo/-", "value": "end"},
        ],
    )
    assert result == {"foo": ["bar", "qux", "baz", "end"], "moved": "bar"}
    with pytest.raises(ApiError, match="test failed"):
        json_patch(doc, [{"op": "test", "path": "/a~1b", "value": 2}])
    with pytest.raises(ApiError, match="doc is missing key: /nope"):
        json_patch(doc, [{"op": "replace", "path": "/nope", "value": 1}])
    assert doc == {"foo": ["bar", "baz"], "a/b": 1}  # a failed patch changes nothing


def test_server_side_apply_prunes_what_the_applier_stopped_setting() -> None:
    first = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1", "b": "2"},
    }
    live = server_side_apply(None, first, "kubectl", force=False)
    second = {**first, "data": {"a": "1"}}
    result = server_side_apply(live, second, "kubectl", force=False)
    assert result["data"] == {"a": "1"}
    managers = result["metadata"]["managedFields"]
    assert [(m["manager"], m["operation"]) for m in managers] == [("kubectl", "Apply")]
    assert managers[0]["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_an_update_takes_ownership_and_apply_then_conflicts() -> None:
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    live = server_side_apply(None, applied, "kubectl", force=False)
    changed = {**live, "data": {"a": "2"}}
    live = record_update(live, changed, "kubectl-edit")
    with pytest.raises(ApiError) as err:
        server_side_apply(live, applied, "kubectl", force=False)
    assert err.value.code == 409
    assert err.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.a'
    )
    forced = server_side_apply(live, applied, "kubectl", force=True)
    assert forced["data"] == {"a": "1"}
