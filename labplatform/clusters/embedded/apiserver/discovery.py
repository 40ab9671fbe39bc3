"""API discovery: how clients learn which kinds exist and what they are called.

kubectl asks for the aggregated form (``apidiscovery.k8s.io/v2``) and parses
it only when the response's Content-Type names it exactly; older clients and
the official Python client's dynamic client use the legacy per-group-version
``APIResourceList``. Both are rendered from the same registry.
"""

from __future__ import annotations

from typing import Any

from labplatform.clusters.embedded.apiserver.registry import Registry, ResourceType

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

# subresource -> (response group, version, kind or "" for the parent's kind, verbs)
SUBRESOURCES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "status": ("", "", "", ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "log": ("", "v1", "Pod", ("get",)),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
    "proxy": ("", "v1", "ServiceProxyOptions", ("create", "delete", "get", "patch", "update")),
    "binding": ("", "v1", "Binding", ("create",)),
    "finalize": ("", "", "", ("update",)),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
}


def wants_aggregated(accept: str) -> bool:
    """True when the client listed the aggregated form among what it accepts."""
    return "as=APIGroupDiscoveryList" in accept and "apidiscovery.k8s.io" in accept


def aggregated(registry: Registry, core: bool) -> dict[str, Any]:
    """``/api`` (core) or ``/apis`` (every named group) in aggregated form."""
    items = []
    for group, versions in registry.group_versions().items():
        if (group == "") != core:
            continue
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": version,
                        "resources": [
                            _aggregated_resource(r, version)
                            for r in registry
                            if r.group == group and version in r.versions
                        ],
                        "freshness": "Current",
                    }
                    for version in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def _names(resource: ResourceType) -> dict[str, list[str]]:
    """Short names and categories, present only when there are some (as upstream)."""
    names = {}
    if resource.short_names:
        names["shortNames"] = list(resource.short_names)
    if resource.categories:
        names["categories"] = list(resource.categories)
    return names


def _aggregated_resource(resource: ResourceType, version: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource.plural,
        "responseKind": {"group": resource.group, "version": version, "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
        **_names(resource),
    }
    subresources = []
    for name in resource.subresources:
        group, sub_version, kind, verbs = SUBRESOURCES[name]
        subresources.append(
            {
                "subresource": name,
                "responseKind": {
                    "group": group if kind else resource.group,
                    "version": sub_version or version,
                    "kind": kind or resource.kind,
                },
                "verbs": list(verbs),
            }
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def api_versions(server_address: str) -> dict[str, Any]:
    """Legacy ``/api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    """Legacy ``/apis``."""
    groups = [
        api_group(group, versions) for group, versions in registry.group_versions().items() if group
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """Legacy ``/api/v1`` or ``/apis/<group>/<version>``; None if nothing is served there."""
    resources: list[dict[str, Any]] = []
    for resource in registry:
        if resource.group != group or version not in resource.versions:
            continue
        entry: dict[str, Any] = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
            **_names(resource),
        }
        resources.append(entry)
        for name in resource.subresources:
            sub_group, sub_version, kind, verbs = SUBRESOURCES[name]
            sub: dict[str, Any] = {
                "name": f"{resource.plural}/{name}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": kind or resource.kind,
                "verbs": list(verbs),
            }
            if kind and sub_group != resource.group:
                sub["group"], sub["version"] = sub_group, sub_version
            resources.append(sub)
    if not resources:
        return None
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
