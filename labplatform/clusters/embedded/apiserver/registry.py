"""The kinds this API server serves, and how each one is addressed.

Built-in kinds are declared here once. Custom resources are not: a
CustomResourceDefinition object, stored like any other, registers its kind
when it is created and withdraws it when it is deleted, which is how the
Istio kinds arrive (``crds/istio.yaml`` is applied at bootstrap) and how a
lab can add its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One resource (``group``/``plural``), served at one or more versions."""

    group: str
    versions: tuple[str, ...]  # served versions, the storage version first
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # For custom resources: the CRD version entries (schema, printer columns).
    crd_versions: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """Storage key prefix, the same for every served version."""
        return f"{self.group}/{self.plural}"

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    @property
    def custom(self) -> bool:
        return bool(self.crd_versions)

    @property
    def qualified(self) -> str:
        """``plural.group`` as error messages and kubectl name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str | None = None) -> str:
        version = version or self.storage_version
        return f"{self.group}/{version}" if self.group else version


def _core(kind: str, plural: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType("", ("v1",), kind, plural, kind.lower(), namespaced, **kw)


def _grouped(group: str, kind: str, plural: str, **kw: Any) -> ResourceType:
    namespaced = kw.pop("namespaced", True)
    return ResourceType(group, ("v1",), kind, plural, kind.lower(), namespaced, **kw)


BUILTIN = (
    _core(
        "Namespace", "namespaces", False, short_names=("ns",), subresources=("status", "finalize")
    ),
    _core("Node", "nodes", False, short_names=("no",), subresources=("status",)),
    _core(
        "Pod",
        "pods",
        short_names=("po",),
        categories=("all",),
        subresources=("status", "log", "exec", "attach", "portforward", "proxy", "binding"),
    ),
    _core(
        "Service",
        "services",
        short_names=("svc",),
        categories=("all",),
        subresources=("status", "proxy"),
    ),
    _core("Endpoints", "endpoints", short_names=("ep",)),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets"),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",), subresources=("token",)),
    _core("Event", "events", short_names=("ev",)),
    _grouped(
        "apps",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        categories=("all",),
        subresources=("status", "scale"),
    ),
    _grouped(
        "apps",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        categories=("all",),
        subresources=("status", "scale"),
    ),
    _grouped("discovery.k8s.io", "EndpointSlice", "endpointslices"),
    _grouped(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        subresources=("status",),
    ),
    _grouped(
        "authentication.k8s.io",
        "TokenReview",
        "tokenreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _grouped(
        "authorization.k8s.io",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _grouped(
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _grouped(
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        namespaced=False,
        categories=("api-extensions",),
    ),
    # who may do what (rbac.py decides), and what a namespace may use (admission.py)
    _grouped("rbac.authorization.k8s.io", "Role", "roles"),
    _grouped("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
    _grouped("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", namespaced=False),
    _grouped(
        "rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", namespaced=False
    ),
    _core("ResourceQuota", "resourcequotas", short_names=("quota",), subresources=("status",)),
    _core("LimitRange", "limitranges", short_names=("limits",)),
    _grouped("networking.k8s.io", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
)


def resource_from_crd(crd: dict[str, Any]) -> ResourceType:
    """The resource a CustomResourceDefinition declares; storage version first."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    served.sort(key=lambda v: not v.get("storage", False))
    return ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in served),
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames", ())),
        categories=tuple(names.get("categories", ())),
        subresources=tuple(sorted(served[0].get("subresources", {}) or {})),
        crd_versions={v["name"]: v for v in served},
    )


class Registry:
    """Looks resources up the ways requests name them."""

    def __init__(self) -> None:
        self._by_key: dict[str, ResourceType] = {}
        for resource in BUILTIN:
            self.add(resource)

    def add(self, resource: ResourceType) -> None:
        self._by_key[resource.key] = resource

    def remove(self, group: str, plural: str) -> None:
        self._by_key.pop(f"{group}/{plural}", None)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(sorted(self._by_key.values(), key=lambda r: (r.group, r.plural)))

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource served at ``/apis/<group>/<version>/<plural>``, if any."""
        resource = self._by_key.get(f"{group}/{plural}")
        if resource is None or version not in resource.versions:
            return None
        return resource

    def by_key(self, key: str) -> ResourceType:
        return self._by_key[key]

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        for resource in self._by_key.values():
            if resource.group == group and resource.kind == kind:
                return resource
        return None

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> served versions, preferred first, for discovery."""
        found: dict[str, list[str]] = {}
        for resource in self:
            versions = found.setdefault(resource.group, [])
            for version in resource.versions:
                if version not in versions:
                    versions.append(version)
        for versions in found.values():
            versions.sort(key=_version_priority)
        return found


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version order: GA before beta before alpha, higher first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0))
