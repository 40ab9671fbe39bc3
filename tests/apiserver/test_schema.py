"""Decoding, pruning and schema validation: the 400s and 422s clients get for bad types."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from labplatform.clusters.embedded.apiserver.builtin_schemas import (
    BUILTIN_SCHEMAS,
    custom_resource_schema,
)
from labplatform.clusters.embedded.apiserver.crds import istio_crds
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.schema import (
    FieldValidation,
    decode,
    prune,
    render,
    unknown_fields,
    validate_schema,
)

# The Deployment of the Kubernetes docs ("Creating a Deployment"), as kubectl sends it.
NGINX: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "containers": [
                    {"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}
                ]
            },
        },
    },
}

# A pod using most of what labs use, as `kubectl get pod -o json` prints it.
POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "reviews-v1-5b9f7c7d8-x2x4q",
        "namespace": "bookinfo",
        "generateName": "reviews-v1-5b9f7c7d8-",
        "labels": {"app": "reviews", "version": "v1"},
        "annotations": {"sidecar.istio.io/inject": "true"},
        "uid": "6f1c7d2e-0000-4000-8000-000000000001",
        "resourceVersion": "1234",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "reviews-v1-5b9f7c7d8",
                "uid": "6f1c7d2e-0000-4000-8000-000000000002",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "managedFields": [
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
            }
        ],
    },
    "spec": {
        "serviceAccountName": "bookinfo-reviews",
        "securityContext": {"runAsNonRoot": True, "fsGroup": 1000},
        "initContainers": [{"name": "wait", "image": "busybox:1.36", "command": ["sh", "-c"]}],
        "containers": [
            {
                "name": "reviews",
                "image": "docker.io/istio/examples-bookinfo-reviews-v1:1.20.3",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 9080, "name": "http", "protocol": "TCP"}],
                "env": [
                    {"name": "LOG_DIR", "value": "/tmp/logs"},
                    {
                        "name": "POD_NAME",
                        "valueFrom": {
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
                        },
                    },
                    {
                        "name": "PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                    },
                ],
                "envFrom": [{"configMapRef": {"name": "reviews-config"}}],
                "resources": {
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                    "requests": {"cpu": 0.1},
                },
                "readinessProbe": {
                    "httpGet": {"path": "/health", "port": "http", "scheme": "HTTP"},
                    "initialDelaySeconds": 5,
                },
                "livenessProbe": {"tcpSocket": {"port": 9080}, "periodSeconds": 10},
                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    {"name": "tmp", "mountPath": "/tmp"},
                    {"name": "config", "mountPath": "/etc/reviews", "readOnly": True},
                ],
            }
        ],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "config", "configMap": {"name": "reviews-config", "defaultMode": 420}},
            {
                "name": "certs",
                "secret": {"secretName": "certs", "items": [{"key": "a", "path": "a"}]},
            },
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {
                "name": "kube-api-access-abcde",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                    ],
                },
            },
        ],
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
    },
    "status": {"phase": "Running", "podIP": "10.244.0.11", "anything": {"the": "kubelet says"}},
}

# The VirtualService of Istio's "Traffic Shifting" task.
VIRTUAL_SERVICE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "reviews", "namespace": "bookinfo"},
    "spec": {
        "hosts": ["reviews"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "reviews", "subset": "v1"}, "weight": 50},
                    {"destination": {"host": "reviews", "subset": "v3"}, "weight": 50},
                ]
            }
        ],
    },
}


def _crd_schema(kind: str) -> dict[str, Any]:
    crd = next(c for c in istio_crds() if c["spec"]["names"]["kind"] == kind)
    return custom_resource_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def _decode(obj: dict[str, Any], key: str, validation: FieldValidation = "Strict") -> Any:
    _, version, kind = key.split("/")
    return decode(
        obj, BUILTIN_SCHEMAS[key], kind=kind, version=version, field_validation=validation
    )


def _changed(change: str, value: Any) -> dict[str, Any]:
    """NGINX with one value replaced, addressed by a dotted path (list indexes as numbers)."""
    obj = copy.deepcopy(NGINX)
    *parents, last = change.split(".")
    target: Any = obj
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return obj


def test_realistic_objects_decode_unchanged() -> None:
    for obj, key in ((NGINX, "apps/v1/Deployment"), (POD, "/v1/Pod")):
        assert _decode(obj, key) == (obj, [])


CONTAINER = "spec.template.spec.containers.0"


@pytest.mark.parametrize(
    ("change", "value", "go_error"),
    [
        (
            "spec.replicas",
            "three",
            "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type "
            "int32",
        ),
        (
            "spec.replicas",
            1.5,
            "cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of "
            "type int32",
        ),
        (
            f"{CONTAINER}.ports.0.containerPort",
            "80",
            "cannot unmarshal string into Go struct field "
            "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32",
        ),
        (
            f"{CONTAINER}.env",
            [{"name": "DEBUG", "value": True}],
            "cannot unmarshal bool into Go struct field "
            "EnvVar.spec.template.spec.containers.env.value of type string",
        ),
        (
            "spec.template.metadata.labels.version",
            1.0,
            "cannot unmarshal number into Go struct field "
            "ObjectMeta.spec.template.metadata.labels of type string",
        ),
        (
            f"{CONTAINER}.command",
            "nginx -g 'daemon off;'",
            "cannot unmarshal string into Go struct field "
            "Container.spec.template.spec.containers.command of type []string",
        ),
        (
            "spec.template.spec.containers",
            {"name": "nginx"},
            "cannot unmarshal object into Go struct field "
            "PodSpec.spec.template.spec.containers of type []v1.Container",
        ),
        (
            "spec.strategy",
            {"rollingUpdate": {"maxSurge": True}},
            "cannot unmarshal bool into Go struct field "
            "RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32",
        ),
        (
            f"{CONTAINER}.imagePullPolicy",
            1,
            "cannot unmarshal number into Go struct field "
            "Container.spec.template.spec.containers.imagePullPolicy of type v1.PullPolicy",
        ),
    ],
)
def test_wrong_types_in_builtin_kinds_are_go_decoding_errors(
    change: str, value: Any, go_error: str
) -> None:
    with pytest.raises(ApiError) as err:
        _decode(_changed(change, value), "apps/v1/Deployment")
    assert (err.value.code, err.value.reason) == (400, "BadRequest")
    assert err.value.message == (
        f'Deployment in version "v1" cannot be handled as a Deployment: json: {go_error}'
    )


@pytest.mark.parametrize(
    ("obj", "key", "problem"),
    [
        (
            _changed(f"{CONTAINER}.resources", {"limits": {"memory": "lots"}}),
            "apps/v1/Deployment",
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
        (
            _changed(f"{CONTAINER}.resources", {"limits": {"memory": "512mi"}}),
            "apps/v1/Deployment",
            "unable to parse quantity's suffix",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db"},
                "data": {"pw": "s3cr#t"},
            },
            "/v1/Secret",
            "illegal base64 data at input byte 4",
        ),
    ],
)
def test_values_go_cannot_parse_are_refused(obj: dict[str, Any], key: str, problem: str) -> None:
    kind = key.rsplit("/", 1)[1]
    with pytest.raises(ApiError) as err:
        _decode(obj, key)
    assert err.value.message == f'{kind} in version "v1" cannot be handled as a {kind}: {problem}'


def test_unknown_fields_per_field_validation() -> None:
    typo = _changed(f"{CONTAINER}.imagePullPolice", "Always")
    typo["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    typo["spec"]["foo"] = {"bar": 1}
    expected = [
        'unknown field "spec.template.spec.containers[0].imagePullPolice"',
        'unknown field "spec.foo"',
    ]
    with pytest.raises(ApiError) as err:
        _decode(typo, "apps/v1/Deployment", "Strict")
    assert (err.value.code, err.value.message) == (
        400,
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        + ", ".join(expected),
    )
    kept, warnings = _decode(typo, "apps/v1/Deployment", "Warn")
    assert warnings == expected
    assert "foo" not in kept["spec"]
    assert (
        kept["spec"]["template"]["spec"]["containers"][0]
        == NGINX["spec"]["template"]["spec"]["containers"][0]
    )
    assert _decode(typo, "apps/v1/Deployment", "Ignore") == (kept, [])


def test_unknown_top_level_and_metadata_fields() -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "label": {"app": "x"}},
        "spec": {"data": {"a": "1"}},
    }
    assert unknown_fields(config_map, BUILTIN_SCHEMAS["/v1/ConfigMap"]) == [
        "metadata.label",
        "spec",
    ]


def test_custom_resources_are_validated_not_decoded() -> None:
    schema = _crd_schema("VirtualService")
    assert validate_schema(VIRTUAL_SERVICE, schema) == []
    bad = copy.deepcopy(VIRTUAL_SERVICE)
    bad["spec"]["hosts"] = "reviews"
    bad["spec"]["http"][0]["route"][0]["weight"] = "50"
    assert [(c.reason, c.field, c.message) for c in validate_schema(bad, schema)] == [
        (
            "FieldValueTypeInvalid",
            "spec.hosts",
            'Invalid value: "string": spec.hosts in body must be of type array: "string"',
        ),
        (
            "FieldValueTypeInvalid",
            "spec.http[0].route[0].weight",
            'Invalid value: "string": spec.http[0].route[0].weight in body must be of type '
            'integer: "string"',
        ),
    ]
    # untyped decoding leaves types alone, but strict decoding still refuses unknown fields
    assert decode(bad, schema, kind="VirtualService", version="v1", typed=False)[0] == bad
    typo = copy.deepcopy(VIRTUAL_SERVICE)
    typo["spec"]["http"][0]["route"][1]["weigth"] = typo["spec"]["http"][0]["route"][1].pop(
        "weight"
    )
    with pytest.raises(ApiError) as err:
        decode(
            typo,
            schema,
            kind="VirtualService",
            version="v1",
            typed=False,
            field_validation="Strict",
        )
    assert err.value.message == (
        'VirtualService in version "v1" cannot be handled as a VirtualService: strict decoding '
        'error: unknown field "spec.http[0].route[1].weigth"'
    )


SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["mode"],
    "properties": {
        "mode": {"type": "string", "enum": ["DISABLE", "SIMPLE", "MUTUAL"]},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5, "minLength": 2},
        "hosts": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "target": {"x-kubernetes-int-or-string": True},
        "note": {"type": "string", "nullable": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


@pytest.mark.parametrize(
    ("spec", "causes"),
    [
        ({"mode": "SIMPLE", "port": 443, "ratio": 0.5, "target": "http", "note": None}, []),
        ({"mode": "SIMPLE", "port": 8080.0, "target": 8080}, []),
        ({}, [("FieldValueRequired", "spec.mode", "Required value")]),
        (
            {"mode": "TLS"},
            [
                (
                    "FieldValueNotSupported",
                    "spec.mode",
                    'Unsupported value: "TLS": supported values: "DISABLE", "SIMPLE", "MUTUAL"',
                )
            ],
        ),
        (
            {"mode": "SIMPLE", "port": 0, "ratio": 0},
            [
                (
                    "FieldValueInvalid",
                    "spec.port",
                    "Invalid value: 0: spec.port in body should be greater than or equal to 1",
                ),
                (
                    "FieldValueInvalid",
                    "spec.ratio",
                    "Invalid value: 0: spec.ratio in body should be greater than 0",
                ),
            ],
        ),
        (
            {"mode": "SIMPLE", "port": 70000},
            [
                (
                    "FieldValueInvalid",
                    "spec.port",
                    "Invalid value: 70000: spec.port in body should be less than or equal to 65535",
                )
            ],
        ),
        (
            {"mode": "SIMPLE", "name": "Reviews"},
            [
                ("FieldValueTooLong", "spec.name", "Too long: may not be more than 5 bytes"),
                (
                    "FieldValueInvalid",
                    "spec.name",
                    "Invalid value: \"Reviews\": spec.name in body should match '^[a-z]+$'",
                ),
            ],
        ),
        (
            {"mode": "SIMPLE", "name": "a", "hosts": []},
            [
                (
                    "FieldValueInvalid",
                    "spec.name",
                    'Invalid value: "a": spec.name in body should be at least 2 chars long',
                ),
                (
                    "FieldValueInvalid",
                    "spec.hosts",
                    "Invalid value: 0: spec.hosts in body should have at least 1 items",
                ),
            ],
        ),
        (
            {"mode": "SIMPLE", "hosts": ["a", "b", 3]},
            [
                (
                    "FieldValueTypeInvalid",
                    "spec.hosts[2]",
                    'Invalid value: "integer": spec.hosts[2] in body must be of type string: '
                    '"integer"',
                ),
                ("FieldValueTooMany", "spec.hosts", "Too many: 3: must have at most 2 items"),
            ],
        ),
        (
            {"mode": "SIMPLE", "target": True, "labels": {"app": 1}},
            [
                (
                    "FieldValueTypeInvalid",
                    "spec.target",
                    'Invalid value: "boolean": spec.target in body must be of type '
                    'integer,string: "boolean"',
                ),
                (
                    "FieldValueTypeInvalid",
                    "spec.labels.app",
                    'Invalid value: "integer": spec.labels.app in body must be of type string: '
                    '"integer"',
                ),
            ],
        ),
        (
            {"mode": None},
            [
                (
                    "FieldValueTypeInvalid",
                    "spec.mode",
                    'Invalid value: "null": spec.mode in body must be of type string: "null"',
                )
            ],
        ),
    ],
)
def test_crd_schema_keywords_report_kube_openapi_messages(
    spec: dict[str, Any], causes: list[tuple[str, str, str]]
) -> None:
    found = validate_schema(spec, SPEC, "spec")
    assert [(c.reason, c.field, c.message) for c in found] == causes


def test_one_of_as_istio_crds_use_it_for_exclusive_fields() -> None:
    string_match = {
        "type": "object",
        "properties": {"exact": {"type": "string"}, "prefix": {"type": "string"}},
        "oneOf": [
            {"not": {"anyOf": [{"required": ["exact"]}, {"required": ["prefix"]}]}},
            {"required": ["exact"]},
            {"required": ["prefix"]},
        ],
    }
    assert validate_schema({"prefix": "/reviews"}, string_match, "spec.uri") == []
    assert validate_schema({}, string_match, "spec.uri") == []
    [cause] = validate_schema({"exact": "/a", "prefix": "/b"}, string_match, "spec.uri")
    assert cause.message == (
        'Invalid value: "": "spec.uri" must validate one and only one schema (oneOf). '
        "Found 2 valid alternatives"
    )


def test_pruning_keeps_what_schemas_preserve() -> None:
    schema = {
        "type": "object",
        "properties": {
            "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
            },
            "port": {"type": "integer"},
        },
    }
    obj = {
        "config": {"anything": {"goes": [1, 2]}},
        "template": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"a": "x", "b": "y"},
        },
        "port": None,
        "extra": True,
    }
    assert prune(obj, schema) == {
        "config": {"anything": {"goes": [1, 2]}},
        "template": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"a": "x"},
        },
    }
    assert unknown_fields(obj, schema) == ["template.spec.b", "extra"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("web", '"web"'),
        (3, "3"),
        (2.5, "2.5"),
        (1e21, "1e+21"),
        (True, "true"),
        (None, "null"),
        ({"b": "2", "a": "<1>"}, '{"a":"\\u003c1\\u003e","b":"2"}'),
        (["x"], '["x"]'),
    ],
)
def test_values_render_as_field_errors_print_them(value: object, shown: str) -> None:
    assert render(value) == shown
