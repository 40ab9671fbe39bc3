"""Semantic validation: the 422 Invalid causes a real API server gives for each mistake."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from labplatform.clusters.embedded.apiserver.crds import istio_crds
from labplatform.clusters.embedded.apiserver.defaults import apply_defaults
from labplatform.clusters.embedded.apiserver.errors import invalid
from labplatform.clusters.embedded.apiserver.validation import (
    validate_create,
    validate_metadata,
    validate_name,
    validate_update,
)

SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_RULE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def deployment(selector: dict[str, Any] | None, labels: dict[str, str]) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "productpage-v1", "namespace": "bookinfo"},
        "spec": {
            "replicas": 1,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "productpage",
                            "image": "docker.io/istio/examples-bookinfo-productpage-v1:1.20.3",
                            "ports": [{"containerPort": 9080}],
                        }
                    ]
                },
            },
        },
    }
    if selector is not None:
        obj["spec"]["selector"] = selector
    apply_defaults("Deployment", obj)
    return obj


def pod(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "curl", "namespace": "default"},
        "spec": {"containers": [{"name": "curl", "image": "curlimages/curl:8.8.0"}], **spec},
    }
    apply_defaults("Pod", obj)
    return obj


def service(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "reviews", "namespace": "bookinfo"},
        "spec": {"selector": {"app": "reviews"}, **spec},
    }
    apply_defaults("Service", obj)
    return obj


def found(causes: list[Any]) -> list[tuple[str, str, str]]:
    return [(c.reason, c.field, c.message) for c in causes]


@pytest.mark.parametrize(
    ("kind", "name", "messages"),
    [
        ("ConfigMap", "app.config-v1", []),
        ("ConfigMap", "Bad_Name", [f'Invalid value: "Bad_Name": {SUBDOMAIN_RULE}']),
        (
            "Pod",
            "x" * 254,
            ['Invalid value: "' + "x" * 254 + '": must be no more than 253 characters'],
        ),
        ("Namespace", "my.ns", ['Invalid value: "my.ns": must not contain dots']),
        ("Namespace", "Lab", [f'Invalid value: "Lab": {LABEL_RULE}']),
        ("Service", "1reviews", [f'Invalid value: "1reviews": {DNS1035_RULE}']),
        ("Service", "reviews", []),
        ("Secret", "", ["Required value: name or generateName is required"]),
    ],
)
def test_names_follow_each_kinds_rule(kind: str, name: str, messages: list[str]) -> None:
    causes = validate_name(kind, name)
    assert [c.message for c in causes] == messages
    assert all(c.field == "metadata.name" for c in causes)


def test_bad_name_reads_as_kubectl_prints_it() -> None:
    error = invalid("ConfigMap", "Bad_Name", validate_name("ConfigMap", "Bad_Name"))
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == (
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
        + SUBDOMAIN_RULE
    )


def test_generate_name_may_end_in_a_dash_but_labels_and_annotations_are_checked() -> None:
    obj = {
        "metadata": {
            "generateName": "reviews-v1-",
            "namespace": "bookinfo",
            "labels": {"app": "reviews", "-bad": "ok", "version": "v1!"},
            "annotations": {"Example.com/Owner": "me", "big": "x" * (256 * 1024)},
        }
    }
    causes = found(validate_metadata(obj))
    assert [(reason, field) for reason, field, _ in causes] == [
        ("FieldValueInvalid", "metadata.labels"),
        ("FieldValueInvalid", "metadata.labels"),
        ("FieldValueTooLong", "metadata.annotations"),
    ]
    assert causes[0][2].startswith('Invalid value: "-bad": name part must consist of')
    assert causes[1][2].startswith('Invalid value: "v1!": a valid label must be an empty string')
    assert causes[2][2] == "Too long: may not be more than 262144 bytes"


def test_a_realistic_pod_is_valid() -> None:
    assert validate_create("Pod", pod()) == []


@pytest.mark.parametrize(
    ("spec", "causes"),
    [
        ({"containers": []}, [("FieldValueRequired", "spec.containers", "Required value")]),
        (
            {"containers": [{"name": "web"}]},
            [("FieldValueRequired", "spec.containers[0].image", "Required value")],
        ),
        (
            {"containers": [{"name": "Web", "image": "nginx"}]},
            [
                (
                    "FieldValueInvalid",
                    "spec.containers[0].name",
                    f'Invalid value: "Web": {LABEL_RULE}',
                )
            ],
        ),
        (
            {
                "initContainers": [{"name": "web", "image": "busybox"}],
                "containers": [{"name": "web", "image": "nginx"}],
            },
            [("FieldValueDuplicate", "spec.initContainers[0].name", 'Duplicate value: "web"')],
        ),
        (
            {
                "containers": [
                    {"name": "web", "image": "nginx", "ports": [{"containerPort": 70000}]}
                ]
            },
            [
                (
                    "FieldValueInvalid",
                    "spec.containers[0].ports[0].containerPort",
                    "Invalid value: 70000: must be between 1 and 65535, inclusive",
                )
            ],
        ),
        (
            {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx",
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ]
            },
            [
                (
                    "FieldValueNotFound",
                    "spec.containers[0].volumeMounts[0].name",
                    'Not found: "data"',
                )
            ],
        ),
        (
            {"restartPolicy": "Sometimes"},
            [
                (
                    "FieldValueNotSupported",
                    "spec.restartPolicy",
                    'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", '
                    '"Never"',
                )
            ],
        ),
        (
            {
                "volumes": [
                    {"name": "cfg", "configMap": {"name": "c"}, "secret": {"secretName": "s"}}
                ]
            },
            [
                (
                    "FieldValueForbidden",
                    "spec.volumes[0].secret",
                    "Forbidden: may not specify more than 1 volume type",
                )
            ],
        ),
        (
            {
                "containers": [
                    {"name": "web", "image": "nginx", "livenessProbe": {"initialDelaySeconds": 5}}
                ]
            },
            [
                (
                    "FieldValueRequired",
                    "spec.containers[0].livenessProbe",
                    "Required value: must specify a handler type",
                )
            ],
        ),
    ],
)
def test_pod_mistakes(spec: dict[str, Any], causes: list[tuple[str, str, str]]) -> None:
    assert found(validate_create("Pod", pod(**spec))) == causes


def test_a_pod_without_an_image_reads_as_kubectl_prints_it() -> None:
    bad = pod(containers=[{"name": "curl"}, {"name": "curl", "image": "curlimages/curl"}])
    error = invalid("Pod", "curl", validate_create("Pod", bad))
    assert error.message == (
        'Pod "curl" is invalid: [spec.containers[0].image: Required value, '
        'spec.containers[1].name: Duplicate value: "curl"]'
    )


@pytest.mark.parametrize(
    ("spec", "causes"),
    [
        ({"ports": [{"port": 9080, "name": "http"}]}, []),
        ({}, [("FieldValueRequired", "spec.ports", "Required value")]),
        ({"clusterIP": "None"}, []),
        (
            {"ports": [{"port": 80}, {"port": 443, "name": "https"}]},
            [("FieldValueRequired", "spec.ports[0].name", "Required value")],
        ),
        (
            {"ports": [{"port": 0, "name": "http"}]},
            [
                (
                    "FieldValueInvalid",
                    "spec.ports[0].port",
                    "Invalid value: 0: must be between 1 and 65535, inclusive",
                ),
                (
                    "FieldValueInvalid",
                    "spec.ports[0].targetPort",
                    "Invalid value: 0: must be between 1 and 65535, inclusive",
                ),
            ],
        ),
        (
            {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]},
            [
                (
                    "FieldValueDuplicate",
                    "spec.ports[1]",
                    'Duplicate value: {"port":80,"protocol":"TCP"}',
                )
            ],
        ),
        (
            {"type": "Internal", "ports": [{"port": 80}]},
            [
                (
                    "FieldValueNotSupported",
                    "spec.type",
                    'Unsupported value: "Internal": supported values: "ClusterIP", '
                    '"ExternalName", "LoadBalancer", "NodePort"',
                )
            ],
        ),
        (
            {"type": "ExternalName"},
            [("FieldValueRequired", "spec.externalName", "Required value")],
        ),
    ],
)
def test_service_mistakes(spec: dict[str, Any], causes: list[tuple[str, str, str]]) -> None:
    assert found(validate_create("Service", service(**spec))) == causes


def test_selector_must_match_template_labels() -> None:
    bad = deployment({"matchLabels": {"app": "productpage"}}, {"app": "reviews"})
    assert found(validate_create("Deployment", bad)) == [
        (
            "FieldValueInvalid",
            "spec.template.metadata.labels",
            'Invalid value: {"app":"reviews"}: `selector` does not match template `labels`',
        )
    ]
    good = deployment({"matchLabels": {"app": "productpage"}}, {"app": "productpage", "v": "1"})
    assert validate_create("Deployment", good) == []


def test_a_deployment_without_selector_gets_both_causes_as_upstream() -> None:
    causes = validate_create("Deployment", deployment(None, {"app": "x"}))
    assert invalid("Deployment", "nosel", causes, "apps").message == (
        'Deployment.apps "nosel" is invalid: [spec.selector: Required value, '
        'spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match '
        "template `labels`]"
    )


@pytest.mark.parametrize(
    ("change", "causes"),
    [
        (
            {"replicas": -1},
            [
                (
                    "FieldValueInvalid",
                    "spec.replicas",
                    "Invalid value: -1: must be greater than or equal to 0",
                )
            ],
        ),
        (
            {
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"},
                }
            },
            [
                (
                    "FieldValueInvalid",
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    "Invalid value: 0%: may not be 0 when `maxSurge` is 0",
                )
            ],
        ),
        (
            {"strategy": {"type": "Recreate", "rollingUpdate": {}}},
            [
                (
                    "FieldValueForbidden",
                    "spec.strategy.rollingUpdate",
                    "Forbidden: may not be specified when strategy `type` is 'Recreate'",
                )
            ],
        ),
        (
            {"selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}},
            [
                (
                    "FieldValueInvalid",
                    "spec.selector.matchExpressions[0].operator",
                    'Invalid value: "Near": not a valid selector operator',
                ),
                (
                    "FieldValueInvalid",
                    "spec.selector",
                    'Invalid value: {"matchExpressions":[{"key":"app","operator":"Near"}]}: '
                    "invalid label selector",
                ),
            ],
        ),
    ],
)
def test_deployment_mistakes(change: dict[str, Any], causes: list[tuple[str, str, str]]) -> None:
    bad = deployment({"matchLabels": {"app": "productpage"}}, {"app": "productpage"})
    bad["spec"].update(change)
    assert found(validate_create("Deployment", bad)) == causes


def test_template_restart_policy_must_be_always() -> None:
    bad = deployment({"matchLabels": {"app": "p"}}, {"app": "p"})
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert found(validate_create("ReplicaSet", bad)) == [
        (
            "FieldValueNotSupported",
            "spec.template.spec.restartPolicy",
            'Unsupported value: "Never": supported values: "Always"',
        )
    ]


def test_secrets_of_a_type_need_its_keys_and_config_keys_are_checked() -> None:
    tls = {
        "metadata": {"name": "tls"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA=="},
    }
    assert found(validate_create("Secret", tls)) == [
        ("FieldValueRequired", "data[tls.key]", "Required value")
    ]
    config = {"metadata": {"name": "c"}, "data": {"app.properties": "a=1", "bad key": "x"}}
    [(reason, field, message)] = found(validate_create("ConfigMap", config))
    assert (reason, field) == ("FieldValueInvalid", "data[bad key]")
    assert message.startswith(
        'Invalid value: "bad key": a valid config key must consist of alphanumeric characters'
    )


def test_istio_crds_are_valid_and_crd_mistakes_are_not() -> None:
    for crd in istio_crds():
        apply_defaults("CustomResourceDefinition", crd)
        assert validate_create("CustomResourceDefinition", crd) == []
    crd = copy.deepcopy(istio_crds()[0])
    apply_defaults("CustomResourceDefinition", crd)
    crd["metadata"]["name"] = "virtualservices"
    for version in crd["spec"]["versions"]:
        version["storage"] = False
    causes = found(validate_create("CustomResourceDefinition", crd))
    assert [(reason, field) for reason, field, _ in causes] == [
        ("FieldValueInvalid", "metadata.name"),
        ("FieldValueInvalid", "spec.versions"),
    ]
    assert causes[0][2] == (
        'Invalid value: "virtualservices": must be spec.names.plural+"."+spec.group'
    )
    assert causes[1][2].endswith(": must have exactly one version marked as storage version")


# -- updates ---------------------------------------------------------------------------


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the server keeps it after creation."""
    obj = copy.deepcopy(obj)
    obj["metadata"].update(uid="1b4e28ba-2fa1-11d2-883f-0016d3cca427", resourceVersion="7")
    return obj


def test_pod_updates_may_change_only_images_and_a_few_fields() -> None:
    old = stored(pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "curlimages/curl:8.9.0"
    new["spec"]["activeDeadlineSeconds"] = 600
    new["spec"]["tolerations"].append({"key": "dedicated", "operator": "Exists"})
    assert validate_update("Pod", old, new) == []
    new["spec"]["containers"][0]["ports"] = [{"containerPort": 8080, "protocol": "TCP"}]
    [cause] = validate_update("Pod", old, new)
    assert (cause.reason, cause.field) == ("FieldValueForbidden", "spec")
    assert cause.message == (
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
        "be set to 1 if it was previously negative)"
    )
    new["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    apply_defaults("Pod", new, creating=False)
    assert found(validate_update("Pod", old, new))[-1] == (
        "FieldValueForbidden",
        "spec.containers",
        "Forbidden: pod updates may not add or remove containers",
    )


@pytest.mark.parametrize(
    ("kind", "old", "change", "causes"),
    [
        (
            "Deployment",
            deployment({"matchLabels": {"app": "p"}}, {"app": "p", "tier": "x"}),
            lambda o: o["spec"].update(selector={"matchLabels": {"app": "p", "tier": "x"}}),
            [
                (
                    "FieldValueInvalid",
                    "spec.selector",
                    'Invalid value: {"matchLabels":{"app":"p","tier":"x"}}: field is immutable',
                )
            ],
        ),
        (
            "Service",
            service(ports=[{"port": 80}], clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"]),
            lambda o: o["spec"].update(clusterIP="10.96.0.99"),
            [
                (
                    "FieldValueInvalid",
                    "spec.clusterIPs[0]",
                    'Invalid value: ["10.96.0.99"]: may not change once set',
                )
            ],
        ),
        (
            "Service",
            service(ports=[{"port": 80}], clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"]),
            lambda o: [o["spec"].pop(k) for k in ("clusterIP", "clusterIPs")],
            [],
        ),
        (
            "ConfigMap",
            {"metadata": {"name": "c"}, "immutable": True, "data": {"a": "1"}},
            lambda o: o.update(data={"a": "2"}),
            [
                (
                    "FieldValueForbidden",
                    "data",
                    "Forbidden: field is immutable when `immutable` is set",
                )
            ],
        ),
        (
            "Secret",
            {"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {}},
            lambda o: o.update(type="kubernetes.io/basic-auth", data={"username": "YQ=="}),
            [
                (
                    "FieldValueInvalid",
                    "type",
                    'Invalid value: "kubernetes.io/basic-auth": field is immutable',
                )
            ],
        ),
        (
            "ConfigMap",
            {"metadata": {"name": "c", "namespace": "a"}, "data": {}},
            lambda o: o["metadata"].update(namespace="b"),
            [("FieldValueInvalid", "metadata.namespace", 'Invalid value: "b": field is immutable')],
        ),
    ],
)
def test_immutable_fields(
    kind: str, old: dict[str, Any], change: Any, causes: list[tuple[str, str, str]]
) -> None:
    old = stored(old)
    new = copy.deepcopy(old)
    change(new)
    assert found(validate_update(kind, old, new)) == causes
