"""Defaulting: objects read back with the fields a real server fills in."""

from __future__ import annotations

from typing import Any

import pytest

from labplatform.clusters.embedded.apiserver.defaults import (
    apply_defaults,
    apply_schema_defaults,
    pull_policy,
)


def bookinfo_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ratings", "namespace": "bookinfo"},
        "spec": {
            "containers": [
                {
                    "name": "ratings",
                    "image": "docker.io/istio/examples-bookinfo-ratings-v1:1.20.3",
                    "ports": [{"containerPort": 9080}],
                    "resources": {"limits": {"cpu": "500m"}},
                    "readinessProbe": {"httpGet": {"port": 9080}},
                    "env": [
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                }
            ],
            "volumes": [{"name": "tmp"}, {"name": "cfg", "configMap": {"name": "ratings"}}],
        },
    }


def test_a_new_pod_reads_back_as_on_a_real_cluster() -> None:
    pod = bookinfo_pod()
    apply_defaults("Pod", pod)
    spec = pod["spec"]
    assert {k: v for k, v in spec.items() if k not in ("containers", "volumes")} == {
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler",
        "enableServiceLinks": True,
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority",
        "tolerations": [
            {
                "key": f"node.kubernetes.io/{condition}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for condition in ("not-ready", "unreachable")
        ],
    }
    assert spec["containers"][0] == {
        "name": "ratings",
        "image": "docker.io/istio/examples-bookinfo-ratings-v1:1.20.3",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 9080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "500m"}},
        "readinessProbe": {
            "httpGet": {"port": 9080, "path": "/", "scheme": "HTTP"},
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "env": [
            {
                "name": "POD",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}},
            }
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    assert spec["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "ratings", "defaultMode": 420}},
    ]


def test_an_updated_pod_gets_no_admission_defaults() -> None:
    pod = bookinfo_pod()
    apply_defaults("Pod", pod, creating=False)
    assert not {"serviceAccountName", "priority", "tolerations"} & set(pod["spec"])


def test_existing_tolerations_and_accounts_are_kept() -> None:
    pod = bookinfo_pod()
    pod["spec"]["serviceAccount"] = "bookinfo-ratings"
    pod["spec"]["tolerations"] = [{"operator": "Exists"}]
    apply_defaults("Pod", pod)
    assert pod["spec"]["serviceAccountName"] == "bookinfo-ratings"
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("localhost:5000/team/app", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/team/app:v2", "IfNotPresent"),
        (
            "nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
            "IfNotPresent",
        ),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    assert pull_policy(image) == policy


def test_deployment_defaults_and_template_defaults() -> None:
    deployment: dict[str, Any] = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    }
    apply_defaults("Deployment", deployment)
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    template = spec["template"]["spec"]
    assert template["restartPolicy"] == "Always"
    assert template["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    # what Pods get from admission or Pod-only defaulting stays out of templates
    assert not {"serviceAccountName", "enableServiceLinks", "priority", "tolerations"} & set(
        template
    )
    recreate: dict[str, Any] = {"spec": {"strategy": {"type": "Recreate"}}}
    apply_defaults("Deployment", recreate)
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"selector": {"app": "reviews"}, "ports": [{"port": 9080, "name": "http"}]},
            {
                "selector": {"app": "reviews"},
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"],
                "ports": [{"port": 9080, "name": "http", "protocol": "TCP", "targetPort": 9080}],
            },
        ),
        (
            {
                "type": "NodePort",
                "ports": [{"port": 80, "targetPort": "http"}],
                "selector": {"a": "b"},
            },
            {
                "selector": {"a": "b"},
                "type": "NodePort",
                "sessionAffinity": "None",
                "externalTrafficPolicy": "Cluster",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"],
                "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        ),
        (
            {"clusterIP": "None"},
            {
                "clusterIP": "None",
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "RequireDualStack",
                "ipFamilies": ["IPv4"],
            },
        ),
        (
            {"type": "ExternalName", "externalName": "httpbin.org"},
            {"type": "ExternalName", "externalName": "httpbin.org", "sessionAffinity": "None"},
        ),
    ],
)
def test_service_defaults(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    service = {"spec": spec}
    apply_defaults("Service", service)
    assert service["spec"] == expected


def test_small_kinds() -> None:
    namespace: dict[str, Any] = {
        "metadata": {"name": "bookinfo", "labels": {"istio-injection": "enabled"}}
    }
    secret: dict[str, Any] = {"metadata": {"name": "db"}}
    crd: dict[str, Any] = {
        "spec": {"names": {"kind": "VirtualService", "plural": "virtualservices"}}
    }
    for kind, obj in (
        ("Namespace", namespace),
        ("Secret", secret),
        ("CustomResourceDefinition", crd),
    ):
        apply_defaults(kind, obj)
    assert namespace == {
        "metadata": {
            "name": "bookinfo",
            "labels": {"istio-injection": "enabled", "kubernetes.io/metadata.name": "bookinfo"},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    assert secret["type"] == "Opaque"
    assert crd["spec"]["names"]["singular"] == "virtualservice"
    assert crd["spec"]["names"]["listKind"] == "VirtualServiceList"
    assert crd["spec"]["conversion"] == {"strategy": "None"}


def test_custom_resources_get_their_schema_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "mode": {"type": "string", "default": "PERMISSIVE"},
                    "ports": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"protocol": {"type": "string", "default": "TCP"}},
                        },
                    },
                },
            }
        },
    }
    obj: dict[str, Any] = {"spec": {"ports": [{"number": 80}, {"protocol": "UDP"}]}}
    apply_schema_defaults(obj, schema)
    assert obj == {
        "spec": {
            "mode": "PERMISSIVE",
            "ports": [{"number": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
        }
    }
