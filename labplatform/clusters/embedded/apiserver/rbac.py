"""RBAC: who may do what, from Roles, ClusterRoles and their bindings, as Kubernetes decides it.

Every request is made by a user (the cluster admin, in ``system:masters``,
or a service account) and comes down to attributes: a verb, an API group, a
resource and subresource, a namespace and a name (or a path, for requests
that address no resource). A request is allowed when some binding that
names the user, or one of their groups, grants a role with a rule that
covers those attributes; there are no deny rules. ``system:masters`` may do
anything, as on every cluster.

The default ClusterRoles (``cluster-admin``, ``admin``, ``edit``, ``view``,
``system:auth-delegator``, ``system:discovery``) are created at bootstrap,
so a namespace can be handed to a learner with one RoleBinding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labplatform.clusters.embedded.apiserver.routing import RequestInfo
from labplatform.clusters.embedded.apiserver.store import Store

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
ADMIN_USER = "kubernetes-admin"

# HTTP method to verb, for a single object (name given) and for a collection.
_OBJECT_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
                 "POST": "create", "HEAD": "get", "OPTIONS": "get"}  # fmt: skip
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection",
                     "HEAD": "list", "OPTIONS": "list"}  # fmt: skip
_CONNECT = ("exec", "attach", "portforward")  # websocket upgrades that act on the pod


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()


ADMIN = User(ADMIN_USER, (MASTERS, "system:authenticated"))


@dataclass(frozen=True)
class Attributes:
    """What one request does, in RBAC's terms."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests (/version, /openapi/v3)

    @classmethod
    def of_request(
        cls,
        method: str,
        path: str,
        watch: bool,
        info: RequestInfo | None,  # None: a non-resource path
    ) -> Attributes:
        if info is None:
            return cls(verb=method.lower() if method != "HEAD" else "get", path=path)
        if info.subresource in _CONNECT:
            verb = "create"  # Kubernetes asks `create` for exec, attach and port-forward
        elif info.name:
            verb = _OBJECT_VERBS.get(method, method.lower())
        else:
            verb = _COLLECTION_VERBS.get(method, method.lower())
        if watch and verb in ("get", "list"):
            verb = "watch"
        return cls(verb, info.group, info.resource, info.subresource, info.namespace, info.name)

    def describe(self) -> str:
        """The clause of Kubernetes' "forbidden" message after "cannot"."""
        if not self.resource:
            return f'{self.verb} path "{self.path}"'
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        where = (
            f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        )
        return f'{self.verb} resource "{resource}" in API group "{self.group}"{where}'


def forbidden_message(user: User, attrs: Attributes) -> str:
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    if not attrs.resource:
        return f'forbidden: User "{user.name}" cannot {attrs.describe()}'
    return f'{subject} is forbidden: User "{user.name}" cannot {attrs.describe()}'


def _covers(values: list[str], wanted: str) -> bool:
    return "*" in values or wanted in values


def rule_allows(rule: Obj, attrs: Attributes) -> bool:
    if not _covers(rule.get("verbs") or [], attrs.verb):
        return False
    if not attrs.resource:
        urls = rule.get("nonResourceURLs") or []
        return any(
            u == attrs.path or (u.endswith("*") and attrs.path.startswith(u[:-1])) for u in urls
        )
    if not _covers(rule.get("apiGroups") or [], attrs.group):
        return False
    resources = rule.get("resources") or []
    if attrs.subresource:
        wanted = f"{attrs.resource}/{attrs.subresource}"
        if not (wanted in resources or "*" in resources or f"*/{attrs.subresource}" in resources):
            return False
    elif not _covers(resources, attrs.resource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def subject_matches(subject: Obj, user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


class Authorizer:
    """RBAC decisions over the Roles, ClusterRoles and bindings in the API server's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def allowed(self, user: User, attrs: Attributes) -> bool:
        if MASTERS in user.groups:
            return True
        for binding in self.store.objects(f"{GROUP}/clusterrolebindings"):
            if self._grants(binding, user, "", attrs, cluster_wide=True):
                return True
        if attrs.namespace:
            for binding in self.store.objects(f"{GROUP}/rolebindings", attrs.namespace):
                if self._grants(binding, user, attrs.namespace, attrs, cluster_wide=False):
                    return True
        return False

    def _grants(
        self, binding: Obj, user: User, namespace: str, attrs: Attributes, cluster_wide: bool
    ) -> bool:
        if not any(subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
            return False
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = self.store.get(f"{GROUP}/clusterroles", "", ref.get("name", ""))
        elif ref.get("kind") == "Role" and not cluster_wide:
            role = self.store.get(f"{GROUP}/roles", namespace, ref.get("name", ""))
        else:
            role = None
        return role is not None and any(rule_allows(r, attrs) for r in role.get("rules") or [])


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> Obj:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
# What a namespace's users work with: the workloads, their config and the mesh's rules.
_WORKLOADS = [
    _rule([""], ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps",
                 "serviceaccounts", "events", "persistentvolumeclaims", "namespaces",
                 "resourcequotas", "limitranges"], READ),
    _rule(["apps"], ["deployments", "deployments/scale", "deployments/status", "replicasets",
                     "replicasets/scale", "replicasets/status"], READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], READ),
    _rule(["networking.istio.io", "security.istio.io", "telemetry.istio.io",
           "mixer.labplatform.io"], ["*"], READ),
]  # fmt: skip
_EDIT = [
    _rule([""], ["pods", "services", "configmaps", "secrets", "serviceaccounts",
                 "persistentvolumeclaims"], WRITE),
    _rule([""], ["secrets"], READ),
    _rule([""], ["pods/exec", "pods/attach", "pods/portforward", "pods/proxy",
                 "services/proxy"], ["create", "get"]),
    _rule(["apps"], ["deployments", "deployments/scale", "replicasets", "replicasets/scale"],
          WRITE),
    _rule(["networking.istio.io", "security.istio.io", "telemetry.istio.io",
           "mixer.labplatform.io"], ["*"], WRITE),
]  # fmt: skip
_ADMIN = [
    _rule([GROUP], ["roles", "rolebindings"], [*READ, *WRITE]),
    _rule(["networking.k8s.io"], ["networkpolicies"], [*READ, *WRITE]),
]


DISCOVERY_PATHS = ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version",
                   "/healthz", "/livez", "/readyz"]  # fmt: skip


def default_cluster_roles() -> list[Obj]:
    """The ClusterRoles every Kubernetes cluster starts with (the ones labs and backends use)."""
    roles = {
        "cluster-admin": [_rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}],
        "admin": [*_WORKLOADS, *_EDIT, *_ADMIN],
        "edit": [*_WORKLOADS, *_EDIT],
        "view": _WORKLOADS,
        "system:auth-delegator": [
            _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
            _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        ],
        "system:discovery": [
            {"nonResourceURLs": DISCOVERY_PATHS, "verbs": ["get"]},
            _rule(["authorization.k8s.io"], ["selfsubjectaccessreviews"], ["create"]),
        ],
    }
    return [
        {
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": rules,
        }
        for name, rules in roles.items()
    ]


def default_cluster_role_bindings() -> list[Obj]:
    return [
        {
            "metadata": {
                "name": "system:discovery",
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            },
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "system:discovery"},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": "system:authenticated"}],
        }
    ]
