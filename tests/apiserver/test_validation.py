from labplatform.clusters.embedded.apiserver.defaults import apply_defaults
from labplatform.clusters.embedded.apiserver.errors import invalid
from labplatform.clusters.embedded.apiserver.schema import validate_schema
from labplatform.clusters.embedded.apiserver.validation import (
    validate_create,
    validate_name,
    validate_update,
)


def deployment(selector: dict, labels: dict) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            },
        },
    }


def test_names_follow_dns_rules_per_kind() -> None:
    assert validate_name("ConfigMap", "my.config") == []
    assert validate_name("Service", "my.svc")[0].message.startswith(
        'Invalid value: "my.svc": a lowercase RFC 1123 label'
    )
    assert validate_name("Namespace", "x" * 64)[0].message.endswith("no more than 63 characters")


def test_selector_must_match_template_labels() -> None:
    causes = validate_create("Deployment", deployment({"app": "web"}, {"app": "api"}))
    assert [(c.field, c.message) for c in causes] == [
        (
            "spec.template.metadata.labels",
            'Invalid value: map[string]string{"app":"api"}: `selector` does not match template '
            "`labels`",
        ),
    ]


def test_invalid_message_is_kubernetes_shaped() -> None:
    causes = validate_create(
        "Pod",
        {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "a", "image": "x"}]},
        },
    )
    error = invalid("Pod", "p", causes)
    assert error.code == 422 and error.reason == "Invalid"
    assert error.message == (
        'Pod "p" is invalid: [spec.containers[0].image: Required value, '
        'spec.containers[1].name: Duplicate value: "a"]'
    )


def test_immutable_fields() -> None:
    old = deployment({"app": "web"}, {"app": "web"})
    new = deployment({"app": "web", "v": "1"}, {"app": "web", "v": "1"})
    assert [c.field for c in validate_update("Deployment", old, new)] == ["spec.selector"]
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "immutable": True, "data": {"a": "eA=="}}
    changed = {**secret, "data": {"a": "eQ=="}}
    assert validate_update("Secret", secret, changed)[0].message.startswith("Forbidden")


def test_defaults_match_the_real_server() -> None:
    svc = {"spec": {"ports": [{"port": 80}]}}
    apply_defaults("Service", svc)
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert svc["spec"]["type"] == "ClusterIP"
    pod = {"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "x:1"}]}}
    apply_defaults("Pod", pod)
    assert [c["imagePullPolicy"] for c in pod["spec"]["containers"]] == ["Always", "IfNotPresent"]
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["serviceAccountName"] == "default"


def test_crd_schema_types_use_kubernetes_messages() -> None:
    schema = {
        "type": "object",
        "properties": {"hosts": {"type": "array", "items": {"type": "string"}}},
    }
    causes = validate_schema({"hosts": "reviews"}, schema, "spec")
    assert [(c.field, c.message) for c in causes] == [
        (
            "spec.hosts",
            'Invalid value: "string": spec.hosts in body must be of type array: "string"',
        )
    ]


def test_an_unusable_selector_is_invalid_not_a_crash() -> None:
    bad = deployment({"app": "web"}, {"app": "web"})
    bad["spec"]["selector"]["matchExpressions"] = [{"key": "tier", "operator": "Near"}]
    causes = validate_create("Deployment", bad)
    assert [c.field for c in causes] == ["spec.selector.matchExpressions[0].operator"]
    assert causes[0].message == 'Invalid value: "Near": not a valid selector operator'
