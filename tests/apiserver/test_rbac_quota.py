"""RBAC decisions and quota arithmetic, as rules: the cluster tests show them in use."""

from __future__ import annotations

from fractions import Fraction

import pytest

from labkit.quantities import parse_quantity
from labplatform.clusters.embedded.apiserver import quota, rbac
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.routing import parse_resource_path

SA = rbac.User("system:serviceaccount:lab:learner", ("system:serviceaccounts",))


def attrs(method: str, path: str, watch: bool = False) -> rbac.Attributes:
    return rbac.Attributes.of_request(method, path, watch, parse_resource_path(path))


@pytest.mark.parametrize(
    ("method", "path", "watch", "verb"),
    [
        ("GET", "/api/v1/namespaces/lab/pods", False, "list"),
        ("GET", "/api/v1/namespaces/lab/pods", True, "watch"),
        ("GET", "/api/v1/namespaces/lab/pods/web", False, "get"),
        ("POST", "/api/v1/namespaces/lab/pods", False, "create"),
        ("PATCH", "/apis/apps/v1/namespaces/lab/deployments/web", False, "patch"),
        ("DELETE", "/api/v1/namespaces/lab/pods", False, "deletecollection"),
        ("GET", "/api/v1/namespaces/lab/pods/web/exec", False, "create"),  # a websocket upgrade
    ],
)
def test_requests_become_verbs(method: str, path: str, watch: bool, verb: str) -> None:
    assert attrs(method, path, watch).verb == verb


def test_rules_match_groups_resources_subresources_and_names() -> None:
    rule = {"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"],
            "verbs": ["get", "patch"], "resourceNames": ["web"]}  # fmt: skip
    assert rbac.rule_allows(rule, attrs("PATCH", "/apis/apps/v1/namespaces/lab/deployments/web"))
    scale = attrs("PATCH", "/apis/apps/v1/namespaces/lab/deployments/web/scale")
    assert rbac.rule_allows(rule, scale)
    assert not rbac.rule_allows(rule, attrs("GET", "/apis/apps/v1/namespaces/lab/deployments/db"))
    assert not rbac.rule_allows(rule, attrs("GET", "/api/v1/namespaces/lab/pods/web"))
    status = attrs("GET", "/apis/apps/v1/namespaces/lab/deployments/web/status")
    assert not rbac.rule_allows(rule, status)  # deployments does not cover its subresources
    any_status = {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}
    assert rbac.rule_allows(any_status, status)
    urls = {"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]}
    assert rbac.rule_allows(urls, attrs("GET", "/apis/apps"))
    assert not rbac.rule_allows(urls, attrs("GET", "/metrics"))


def test_subjects_and_the_forbidden_message() -> None:
    binding_ns = "lab"
    assert rbac.subject_matches({"kind": "ServiceAccount", "name": "learner"}, SA, binding_ns)
    assert not rbac.subject_matches({"kind": "ServiceAccount", "name": "learner"}, SA, "other")
    assert rbac.subject_matches({"kind": "Group", "name": "system:serviceaccounts"}, SA, "")
    assert rbac.forbidden_message(SA, attrs("GET", "/api/v1/namespaces/other/pods")) == (
        'pods is forbidden: User "system:serviceaccount:lab:learner" cannot list resource '
        '"pods" in API group "" in the namespace "other"'
    )
    assert rbac.forbidden_message(SA, attrs("GET", "/api/v1/nodes/n1")) == (
        'nodes "n1" is forbidden: User "system:serviceaccount:lab:learner" cannot get '
        'resource "nodes" in API group "" at the cluster scope'
    )


def pod(name: str, cpu: str | None = None, phase: str = "Running") -> dict[str, object]:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "resources": resources}]},
            "status": {"phase": phase}}  # fmt: skip


def test_quantities() -> None:
    assert parse_quantity("500m") == Fraction(1, 2)
    assert parse_quantity("128Mi") == 128 * 2**20
    assert parse_quantity("1e3") == 1000
    assert quota.format_quantity("requests.cpu", Fraction(3, 2)) == "1500m"
    assert quota.format_quantity("limits.memory", Fraction(3 * 2**29)) == "1536Mi"
    with pytest.raises(ValueError, match="regular expression"):
        parse_quantity("lots")


def test_quota_refusals_read_as_upstreams() -> None:
    hard = [{"metadata": {"name": "session"},
             "spec": {"hard": {"pods": "2", "requests.cpu": "1"}}}]  # fmt: skip
    have = [pod("a", "500m"), pod("done", "900m", phase="Succeeded")]  # finished pods free quota
    quota.check("/pods", pod("b", "500m"), hard, lambda key: have)
    with pytest.raises(ApiError) as over:
        quota.check("/pods", pod("c", "600m"), hard, lambda key: have)
    assert over.value.message == (
        'pods "c" is forbidden: exceeded quota: session, requested: requests.cpu=600m, '
        "used: requests.cpu=500m, limited: requests.cpu=1"
    )
    with pytest.raises(ApiError) as unstated:
        quota.check("/pods", pod("d"), hard, lambda key: have)
    assert unstated.value.message == (
        'pods "d" is forbidden: failed quota: session: must specify requests.cpu for: main'
    )


def test_limit_ranges_fill_in_what_containers_leave_out() -> None:
    ranges = [{"spec": {"limits": [{"type": "Container",
                                    "default": {"cpu": "1", "memory": "256Mi"},
                                    "defaultRequest": {"cpu": "100m"}}]}}]  # fmt: skip
    given = pod("p", "250m")
    quota.apply_limit_defaults(given, ranges)
    resources = given["spec"]["containers"][0]["resources"]  # type: ignore[index]
    assert resources == {
        "requests": {"cpu": "250m", "memory": "256Mi"},  # stated, else the limit
        "limits": {"cpu": "1", "memory": "256Mi"},
    }
