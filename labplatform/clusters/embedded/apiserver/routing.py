"""Turning a request path into what it addresses, as upstream's RequestInfo does.

``/api/v1/namespaces/lab/pods/web/log`` is namespace ``lab``, resource
``pods``, name ``web``, subresource ``log``; ``/api/v1/namespaces/lab`` is the
namespace object itself. One parser keeps every handler free of path logic.
"""

from __future__ import annotations

from dataclasses import dataclass

from labplatform.clusters.embedded.apiserver import errors


@dataclass(frozen=True)
class RequestInfo:
    """What a resource request addresses; ``name`` is empty for collections."""

    group: str
    version: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def parse_resource_path(path: str) -> RequestInfo | None:
    """The RequestInfo of a resource path, or None for discovery and other paths.

    Raises 404 for paths under /api or /apis that address nothing.
    """
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if parts[0] == "api":
        if len(parts) < 3:
            return None  # /api, /api/v1: discovery
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis":
        if len(parts) < 4:
            return None  # /apis, /apis/<group>, /apis/<group>/<version>
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    # namespaces/<ns>/<resource>...: a namespaced request. namespaces/<ns> and
    # namespaces/<ns>/status|finalize address the Namespace object itself.
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return RequestInfo(group, version, resource, namespace, name, subresource)
