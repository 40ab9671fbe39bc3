"""Patches as kubectl v1.37 sends them, applied as the real API server applies them.

The strategic merge patches below were captured from `kubectl apply -v=8`; the
JSON and merge patch cases come from the appendices of RFC 6902 and RFC 7386.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.patch import (
    json_merge_patch,
    json_patch,
    record_update,
    server_side_apply,
    strategic_merge_patch,
)

Obj = dict[str, Any]


def deployment() -> Obj:
    """A Deployment as the server stores it after `kubectl apply` (defaults filled in)."""
    container = {
        "name": "web",
        "image": "nginx:1.25",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "demo"}, {"name": "KEEP", "value": "1"}],
        "resources": {},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container], "restartPolicy": "Always"},
            },
        },
        "status": {"replicas": 2},
    }


def containers(obj: Obj) -> list[Obj]:
    result: list[Obj] = obj["spec"]["template"]["spec"]["containers"]
    return result


def refused(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


# -- RFC 7386 merge patch (kubectl patch --type merge, label, annotate, scale) ----------


@pytest.mark.parametrize(
    ("original", "patch", "result"),
    [  # RFC 7386 appendix A, the cases whose target and patch are objects
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc7386(original: Obj, patch: Obj, result: Obj) -> None:
    before = copy.deepcopy(original)
    assert json_merge_patch(original, patch) == result
    assert original == before


def test_kubectl_label_and_scale_merge_patches() -> None:
    live = deployment()
    labelled = json_merge_patch(live, {"metadata": {"labels": {"tier": "front"}}})
    assert labelled["metadata"]["labels"] == {"app": "web", "tier": "front"}
    unlabelled = json_merge_patch(labelled, {"metadata": {"labels": {"tier": None}}})
    assert unlabelled["metadata"]["labels"] == {"app": "web"}
    scaled = json_merge_patch(live, {"spec": {"replicas": 5}})
    assert scaled["spec"]["replicas"] == 5 and containers(scaled) == containers(live)


def test_merge_patch_that_is_not_an_object_is_refused() -> None:
    for patch in (None, "bar", 3):
        error = refused(json_merge_patch, {"a": 1}, patch)
        assert (error.code, error.reason, error.message) == (
            400,
            "BadRequest",
            "Invalid JSON Patch",
        )
    error = refused(json_merge_patch, {"a": 1}, [1])
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message.startswith(' "" is invalid: patch: Invalid value: "[1]": couldn\'t get')


# -- RFC 6902 JSON patch (kubectl patch --type json) -------------------------------------


@pytest.mark.parametrize(
    ("document", "operations", "result"),
    [  # RFC 6902 appendix A
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"foo": "bar", "baz": "qux"},
        ),
        (
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
        ),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        (
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
        ),
        ({"baz": "qux"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo"}),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        (
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
        ),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
        (
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
        ),
        # quirks of the library the real server uses (evanphx/json-patch v4)
        ({"a": 1}, [{"op": "replace", "path": "/b", "value": 2}], {"a": 1, "b": 2}),
        ({"a": [1, 2, 3]}, [{"op": "remove", "path": "/a/-1"}], {"a": [1, 2]}),
        (
            {"a": {"b": 1}},
            [{"op": "copy", "from": "/a", "path": "/c"}],
            {"a": {"b": 1}, "c": {"b": 1}},
        ),
        ({"a": 1}, [{"op": "test", "path": "/missing", "value": None}], {"a": 1}),
    ],
)
def test_json_patch_follows_rfc6902(document: Obj, operations: list[Obj], result: Obj) -> None:
    before = copy.deepcopy(document)
    assert json_patch(document, operations) == result
    assert document == before


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/baz", "value": "bar"}],  # RFC 6902 A.9
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],  # A.12
        [{"op": "test", "path": "/foo/0", "value": 1}],  # A.15: "1" is not 1
        [{"op": "remove", "path": "/spec/template/spec/affinity"}],  # nothing to remove
        [{"op": "replace", "path": "/foo/5", "value": 1}],
        [{"op": "add", "path": "/foo/x", "value": 1}],
        [{"op": "move", "from": "/nope", "path": "/x"}],
        [{"op": "frobnicate", "path": "/foo"}],
        [{"op": "add", "value": 1}],
        # the first operation applies, the second does not: nothing changes
        [{"op": "add", "path": "/new", "value": 1}, {"op": "test", "path": "/new", "value": 2}],
    ],
)
def test_json_patch_that_does_not_apply_is_a_bare_422(operations: list[Obj]) -> None:
    document = {"baz": "qux", "foo": ["1"], "spec": {"template": {"spec": {}}}}
    error = refused(json_patch, document, operations)
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid",
        "code": 422,
    }
    assert document == {"baz": "qux", "foo": ["1"], "spec": {"template": {"spec": {}}}}


def test_json_patch_that_does_not_decode_is_a_bad_request() -> None:
    error = refused(json_patch, {}, {"op": "add", "path": "/a", "value": 1})
    assert (error.code, error.message) == (
        400,
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
    )
    error = refused(json_patch, {}, ["add"])
    assert (
        error.message == "json: cannot unmarshal string into Go value of type jsonpatch.Operation"
    )
    assert json_patch({"a": 1}, None) == {"a": 1}  # null decodes as no operations
    error = refused(json_patch, {}, [{"op": "test", "path": "/a"}] * 10001)
    assert (error.code, error.reason) == (413, "RequestEntityTooLarge")
    assert error.message.endswith("maximum operations in a JSON patch is 10000, got 10001")


# -- strategic merge patch (client-side kubectl apply, kubectl patch) --------------------


def test_kubectl_apply_after_changing_the_image_and_dropping_an_env_var() -> None:
    live = deployment()
    sidecar = {"name": "istio-proxy", "image": "proxyv2"}  # injected, not in the manifest
    containers(live).append(sidecar)
    patch = {  # `kubectl apply -v=8`, the last-applied annotation left out
        "metadata": {"annotations": {}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "KEEP"}],
                            "env": [{"$patch": "delete", "name": "MODE"}],
                            "image": "nginx:1.27",
                            "name": "web",
                        }
                    ],
                }
            }
        },
    }
    result = strategic_merge_patch(live, patch, "Deployment")
    web, proxy = containers(result)
    assert web == {
        "name": "web",
        "image": "nginx:1.27",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "KEEP", "value": "1"}],
        "resources": {},
    }
    assert proxy == sidecar
    assert containers(live)[0]["image"] == "nginx:1.25"  # the input is left alone


def test_kubectl_apply_reordering_containers_removing_a_finalizer_and_changing_strategy() -> None:
    live = deployment()
    live["metadata"]["finalizers"] = ["example.com/a", "example.com/b"]
    containers(live)[0]["args"] = ["a", "b"]
    live["spec"]["template"]["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    patch = {  # captured from kubectl apply
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
            "$setElementOrder/finalizers": ["example.com/b"],
            "annotations": {},
        },
        "spec": {
            "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "side"}, {"name": "web"}],
                    "containers": [
                        {"image": "envoy", "name": "side"},
                        {"args": ["b"], "name": "web"},
                    ],
                    "tolerations": [{"key": "other", "operator": "Exists"}],
                }
            },
        },
    }
    result = strategic_merge_patch(live, patch, "Deployment")
    assert result["metadata"]["finalizers"] == ["example.com/b"]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert [c["name"] for c in containers(result)] == ["side", "web"]
    assert containers(result)[1]["args"] == ["b"]  # a plain list is replaced
    assert result["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "other", "operator": "Exists"}
    ]


def test_kubectl_apply_adding_a_service_port_keeps_the_server_defaults() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            "clusterIP": "10.96.0.12",
        },
    }
    patch = {
        "metadata": {"annotations": {}},
        "spec": {
            "$setElementOrder/ports": [{"port": 80}, {"port": 443}],
            "ports": [{"name": "https", "port": 443, "targetPort": 8443}],
        },
    }
    result = strategic_merge_patch(live, patch, "Service")
    assert result["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443},
    ]
    assert result["spec"]["clusterIP"] == "10.96.0.12"


def test_a_patch_list_orders_the_items_it_names_and_keeps_the_others_in_place() -> None:
    live = deployment()
    containers(live)[:] = [{"name": n, "image": n} for n in ("a", "b", "c")]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "new", "image": "n"}, {"name": "a", "image": "a2"}]
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, "Deployment")
    assert [(c["name"], c["image"]) for c in containers(result)] == [
        ("new", "n"),
        ("a", "a2"),
        ("b", "b"),
        ("c", "c"),
    ]
    finalizers = strategic_merge_patch(
        {"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b", "a"]}}, "ConfigMap"
    )
    assert finalizers["metadata"]["finalizers"] == ["b", "a"]  # merged as a set, patch order


def test_replace_and_delete_directives_and_keyed_lists_beyond_containers() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "ownerReferences": [{"uid": "1", "name": "rs-a"}, {"uid": "2", "name": "rs-b"}],
            "labels": {"a": "1", "b": "2"},
        },
        "spec": {
            "containers": [
                {"name": "app", "image": "x", "volumeMounts": [{"mountPath": "/d", "name": "d"}]}
            ],
            "volumes": [{"name": "d", "emptyDir": {}}],
        },
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "Initialized", "status": "True"},
            ]
        },
    }
    patch = {
        "metadata": {
            "ownerReferences": [{"uid": "2", "name": "rs-b2"}],
            "labels": {"$patch": "replace", "c": "3"},
        },
        "spec": {
            "containers": [{"name": "app", "volumeMounts": [{"mountPath": "/e", "name": "e"}]}],
            "volumes": [{"$patch": "replace"}, {"name": "e", "emptyDir": {}}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    result = strategic_merge_patch(pod, patch, "Pod")
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "rs-a"},
        {"uid": "2", "name": "rs-b2"},
    ]
    assert result["metadata"]["labels"] == {"c": "3"}
    assert [m["mountPath"] for m in result["spec"]["containers"][0]["volumeMounts"]] == ["/e", "/d"]
    assert result["spec"]["volumes"] == [{"name": "e", "emptyDir": {}}]
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Initialized", "status": "True"},
    ]
    emptied = strategic_merge_patch(pod, {"metadata": {"labels": {"$patch": "delete"}}}, "Pod")
    assert emptied["metadata"]["labels"] == {}
    endpoints = {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
    replaced = strategic_merge_patch(
        endpoints, {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}, "Endpoints"
    )
    assert replaced["subsets"] == [{"addresses": [{"ip": "10.0.0.2"}]}]


def test_strategic_merge_errors_match_the_real_server() -> None:
    live = deployment()
    error = refused(  # `kubectl patch deploy web -p '{"spec":...[{"image":"x"}]...}'`
        strategic_merge_patch,
        live,
        {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
        "Deployment",
    )
    assert (error.code, error.reason) == (500, "")
    assert error.message == "map: map[image:x] does not contain declared merge key: name"
    merge_list = {
        "spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "web"}]}}}
    }
    error = refused(strategic_merge_patch, live, merge_list, "Deployment")
    assert error.message == "merging lists cannot yet be specified in the patch"
    error = refused(strategic_merge_patch, live, {"spec": {"$patch": "merge"}}, "Deployment")
    assert error.message == "unknown patch type: merge in map: map[$patch:merge]"
    stray = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    error = refused(strategic_merge_patch, live, stray, "Deployment")
    assert (error.code, error.message) == (400, "invalid patch format of retainKeys")
    error = refused(strategic_merge_patch, live, [{"spec": {}}], "Deployment")
    assert (error.code, error.message) == (
        400,
        "json: cannot unmarshal array into Go value of type map[string]interface {}",
    )


def test_strategic_merge_is_refused_for_custom_resources() -> None:
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "spec": {}}
    error = refused(strategic_merge_patch, vs, {"spec": {"hosts": ["a"]}}, "VirtualService")
    assert (error.code, error.reason, error.message) == (
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )


# -- field ownership: record_update and server-side apply --------------------------------


def manifest(replicas: int = 2, image: str = "nginx:1.25") -> Obj:
    """What `kubectl apply --server-side -f web.yaml` sends."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": image, "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }


def managers(obj: Obj) -> dict[tuple[str, str, str], Obj]:
    """managedFields by (manager, operation, subresource), fieldsV1 only."""
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
        for e in obj["metadata"].get("managedFields", [])
    }


def test_an_apply_owns_what_it_sets_in_the_fieldsv1_encoding() -> None:
    created = server_side_apply(None, manifest(), "kubectl", force=False)
    [entry] = created["metadata"]["managedFields"]
    assert {k: v for k, v in entry.items() if k != "time"} == {
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},  # a label selector is atomic
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:containers": {
                            'k:{"name":"web"}': {
                                ".": {},
                                "f:image": {},
                                "f:name": {},
                                "f:ports": {
                                    'k:{"containerPort":80,"protocol":"TCP"}': {
                                        ".": {},
                                        "f:containerPort": {},
                                    }
                                },
                            }
                        }
                    },
                },
            }
        },
    }
    assert created["spec"]["replicas"] == 2 and created["metadata"]["name"] == "web"


def test_an_update_owns_what_it_added_including_new_maps_and_items() -> None:
    created = record_update(None, deployment(), "kubectl-client-side-apply")
    fields = managers(created)[("kubectl-client-side-apply", "Update", "")]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert "." not in fields["f:spec"] and "f:status" not in fields  # status has its own writers
    assert fields["f:spec"]["f:strategy"] == {
        "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
        "f:type": {},
    }
    web = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert web["f:env"] == {
        ".": {},
        'k:{"name":"KEEP"}': {".": {}, "f:name": {}, "f:value": {}},
        'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}},
    }
    assert web["f:resources"] == {}

    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    created = record_update(None, configmap, "kubectl-create")
    assert managers(created) == {("kubectl-create", "Update", ""): {"f:data": {".": {}, "f:a": {}}}}


def test_kubectl_label_takes_the_label_and_an_unchanged_update_changes_nothing() -> None:
    live = record_update(None, deployment(), "kubectl-client-side-apply")
    labelled = record_update(
        live, json_merge_patch(live, {"metadata": {"labels": {"tier": "front"}}}), "kubectl-label"
    )
    assert managers(labelled)[("kubectl-label", "Update", "")] == {
        "f:metadata": {"f:labels": {"f:tier": {}}}
    }
    assert record_update(labelled, copy.deepcopy(labelled), "kubectl-edit") == labelled
    unlabelled = json_merge_patch(labelled, {"metadata": {"labels": {"tier": None}}})
    assert ("kubectl-label", "Update", "") not in managers(
        record_update(labelled, unlabelled, "kubectl-label")
    )


def test_status_is_owned_through_its_subresource() -> None:
    live = record_update(None, deployment(), "kubectl-client-side-apply")
    status = copy.deepcopy(live)
    status["status"] = {"replicas": 2, "readyReplicas": 2}
    written = record_update(live, status, "kube-controller-manager", subresource="status")
    assert managers(written)[("kube-controller-manager", "Update", "status")] == {
        "f:status": {"f:readyReplicas": {}}
    }


def test_apply_then_scale_then_apply_conflicts_until_forced() -> None:
    live = record_update(None, deployment(), "kubectl-client-side-apply")  # kubectl apply
    scaled = json_merge_patch(live, {"spec": {"replicas": 5}})  # kubectl scale --replicas=5
    live = record_update(live, scaled, "kubectl", subresource="scale")

    error = refused(server_side_apply, live, manifest(replicas=2), "kubectl", False)
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale"'
        " using apps/v1: .spec.replicas",
        "reason": "Conflict",
        "code": 409,
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "kubectl" with subresource "scale" using apps/v1',
                    "field": ".spec.replicas",
                }
            ]
        },
    }
    error = refused(
        server_side_apply, live, manifest(replicas=2, image="nginx:1.27"), "kubectl", False
    )
    assert error.message == (
        "Apply failed with 2 conflicts: "
        'conflicts with "kubectl" with subresource "scale" using apps/v1:\n'
        "- .spec.replicas\n"
        'conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        '- .spec.template.spec.containers[name="web"].image'
    )
    assert [c["field"] for c in error.details["causes"]] == [
        ".spec.replicas",
        '.spec.template.spec.containers[name="web"].image',
    ]

    forced = server_side_apply(
        live, manifest(replicas=2, image="nginx:1.27"), "kubectl", force=True
    )
    assert forced["spec"]["replicas"] == 2 and containers(forced)[0]["image"] == "nginx:1.27"
    owners = managers(forced)
    assert ("kubectl", "Update", "scale") not in owners  # it owned only replicas
    csa = owners[("kubectl-client-side-apply", "Update", "")]
    assert (
        "f:image" not in csa["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    )
    assert "f:replicas" not in csa["f:spec"]
    # the same values again: the applier shares them and nothing conflicts
    again = server_side_apply(forced, manifest(replicas=2, image="nginx:1.27"), "kubectl", False)
    assert again["spec"] == forced["spec"]


def test_apply_removes_what_it_no_longer_sets_unless_someone_else_owns_it() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "labels": {"team": "a"}},
        "data": {"a": "1", "b": "2", "shared": "s"},
    }
    live = server_side_apply(None, config, "kubectl", force=False)
    other = {**config, "metadata": {"name": "c"}, "data": {"shared": "s"}}
    live = server_side_apply(live, other, "other-tool", force=False)  # same value: shared
    trimmed = {**config, "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}}
    result = server_side_apply(live, trimmed, "kubectl", force=False)
    assert result["data"] == {"a": "1", "shared": "s"}
    assert "labels" not in result["metadata"]
    assert managers(result) == {
        ("kubectl", "Apply", ""): {"f:data": {"f:a": {}}},
        ("other-tool", "Apply", ""): {"f:data": {"f:shared": {}}},
    }


def test_apply_merges_keyed_lists_and_leaves_other_writers_items_alone() -> None:
    live = server_side_apply(None, manifest(), "kubectl", force=False)
    injected = copy.deepcopy(live)
    containers(injected).append({"name": "istio-proxy", "image": "proxyv2"})
    live = record_update(live, injected, "sidecar-injector")
    config = manifest()
    containers(config).insert(0, {"name": "init-db", "image": "db"})
    result = server_side_apply(live, config, "kubectl", force=False)
    assert [c["name"] for c in containers(result)] == ["init-db", "web", "istio-proxy"]
    containers(config).pop(0)
    result = server_side_apply(result, config, "kubectl", force=False)
    assert [c["name"] for c in containers(result)] == ["web", "istio-proxy"]


def test_apply_puts_its_items_in_its_order_around_items_only_the_live_object_has() -> None:
    def names(live: list[str], applied: list[str]) -> list[str]:
        obj = deployment()
        containers(obj)[:] = [{"name": n, "image": n} for n in live]
        config = manifest()
        containers(config)[:] = [{"name": n, "image": n} for n in applied]
        result = server_side_apply(record_update(None, obj, "kubectl-create"), config, "k", False)
        return [c["name"] for c in containers(result)]

    assert names(["a", "b", "y"], ["a", "b"]) == ["a", "b", "y"]
    assert names(["a", "x", "b"], ["b", "a"]) == ["x", "b", "a"]
    assert names(["x", "a"], ["c", "a"]) == ["x", "c", "a"]


def test_apply_to_an_object_nobody_recorded_attributes_it_to_before_first_apply() -> None:
    live = deployment()
    error = refused(server_side_apply, live, manifest(replicas=3), "kubectl", False)
    assert error.message == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1:'
        " .spec.replicas"
    )


def test_managed_fields_a_request_sends_replace_the_live_ones() -> None:
    live = record_update(None, deployment(), "kubectl-client-side-apply")
    upgraded = copy.deepcopy(live)  # kubectl hands client-side apply's fields to the applier
    upgraded["metadata"]["managedFields"][0].update(manager="kubectl", operation="Apply")
    result = record_update(live, upgraded, "kubectl")
    assert list(managers(result)) == [("kubectl", "Apply", "")]
    result = server_side_apply(result, manifest(replicas=3), "kubectl", force=False)
    assert result["spec"]["replicas"] == 3
    assert "strategy" not in result["spec"]  # it set it before and no longer does


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c.pop("name"),
            ".spec.template.spec.containers: element 0: associative list with keys has an element"
            ' that omits key field "name" (and doesn\'t have default value)',
        ),
        (
            lambda c: c.update(env=[{"name": "A"}, {"name": "A", "value": "1"}]),
            '.spec.template.spec.containers[name="web"].env: duplicate entries for key [name="A"]',
        ),
    ],
)
def test_an_apply_that_does_not_fit_the_kind_is_refused(change: Any, message: str) -> None:
    config = manifest()
    change(containers(config)[0])
    error = refused(server_side_apply, None, config, "kubectl", False)
    assert (error.code, error.message) == (
        500,
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): " + message,
    )


def test_an_apply_may_not_carry_managed_fields() -> None:
    config = manifest()
    config["metadata"]["managedFields"] = []
    error = refused(server_side_apply, None, config, "kubectl", False)
    assert (error.code, error.message) == (400, "metadata.managedFields must be nil")
