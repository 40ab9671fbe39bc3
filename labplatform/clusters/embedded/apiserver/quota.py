"""ResourceQuota and LimitRange: what a namespace may hold, as upstream's admission decides it.

A LimitRange's ``Container`` limits give containers that name no requests
or limits their defaults when a pod is created (upstream's LimitRanger, a
mutating step before webhooks). A ResourceQuota's ``hard`` caps what the
namespace holds: object counts (``pods``, ``services``, ``configmaps``,
``secrets``, ``count/deployments.apps``) and the sum of pods' ``requests.*``
and ``limits.*`` for cpu and memory. A create that would go over is refused
with upstream's words (``exceeded quota: ...``), and a pod that names no
request for a capped resource is refused (``must specify ...``), so a
namespace cannot be filled by pods that declare nothing. The quota check is
the last step before storing, after webhooks have added their containers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from labkit.quantities import SUFFIXES, parse_quantity
from labplatform.clusters.embedded.apiserver import errors

Obj = dict[str, Any]
QUOTA_KEY = "/resourcequotas"
LIMITS_KEY = "/limitranges"

# What each counted key is counted from: a store key, for object counts.
_COUNTS = {
    "pods": "/pods",
    "count/pods": "/pods",
    "services": "/services",
    "count/services": "/services",
    "configmaps": "/configmaps",
    "count/configmaps": "/configmaps",
    "secrets": "/secrets",
    "count/secrets": "/secrets",
    "count/deployments.apps": "apps/deployments",
    "count/replicasets.apps": "apps/replicasets",
}
_COMPUTE = {  # quota key -> (requests or limits, resource)
    "requests.cpu": ("requests", "cpu"),
    "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}


def format_quantity(key: str, value: Fraction) -> str:
    """A quantity as kubectl shows it: cpu in cores or millicores, memory in Ki/Mi/Gi."""
    kind = _COMPUTE.get(key, ("", ""))[1]
    if kind == "memory":
        for suffix in ("Gi", "Mi", "Ki"):
            if value and value % SUFFIXES[suffix] == 0:
                return f"{value / SUFFIXES[suffix]}{suffix}"
        return str(round(value))
    if kind == "cpu" and value.denominator != 1:
        return f"{round(value * 1000)}m"
    return str(round(value))


def _is_live(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _containers(pod: Obj) -> tuple[list[Obj], list[Obj]]:
    spec = pod.get("spec") or {}
    return list(spec.get("containers") or []), list(spec.get("initContainers") or [])


def pod_amount(pod: Obj, which: str, resource: str) -> Fraction:
    """What a pod asks for: its containers' sum, or its largest init container if more."""
    containers, inits = _containers(pod)

    def amount(container: Obj) -> Fraction:
        value = ((container.get("resources") or {}).get(which) or {}).get(resource)
        return parse_quantity(value) if value is not None else Fraction(0)

    return max(sum((amount(c) for c in containers), Fraction(0)),
               max((amount(c) for c in inits), default=Fraction(0)))  # fmt: skip


def usage(key: str, objects: Iterable[Obj]) -> Fraction:
    """How much of quota ``key`` these objects (all of one kind, one namespace) use."""
    if key in _COUNTS:
        live = [o for o in objects if _COUNTS[key] != "/pods" or _is_live(o)]
        return Fraction(len(live))
    which, resource = _COMPUTE[key]
    return sum((pod_amount(p, which, resource) for p in objects if _is_live(p)), Fraction(0))


def source_of(key: str) -> str | None:
    """The store key whose objects quota ``key`` counts (None: a key this server ignores)."""
    return _COUNTS.get(key) or ("/pods" if key in _COMPUTE else None)


ObjectsOf = Callable[[str], Iterable[Obj]]  # a store key -> what the namespace holds of it


def check(store_key: str, obj: Obj, quotas: list[Obj], objects_of: ObjectsOf) -> None:
    """Refuse creating ``obj`` (stored under ``store_key``) if a quota would be exceeded."""
    present = list(objects_of(store_key))
    for quota in quotas:
        hard = ((quota.get("spec") or {}).get("hard")) or {}
        name = quota["metadata"]["name"]
        keys = [k for k in sorted(hard) if source_of(k) == store_key]
        if store_key == "/pods":
            missing = sorted(k for k in keys if k in _COMPUTE
                             and _unspecified(obj, *_COMPUTE[k]))  # fmt: skip
            if missing:
                names = ",".join(_unspecified(obj, *_COMPUTE[missing[0]]))
                raise errors.forbidden(
                    f'pods "{obj["metadata"].get("name", "")}" is forbidden: failed quota: '
                    f"{name}: must specify {','.join(missing)} for: {names}"
                )
        over = []
        for key in keys:
            requested = usage(key, [obj])
            used = usage(key, present)
            if requested and used + requested > parse_quantity(hard[key]):
                over.append((key, requested, used, parse_quantity(hard[key])))
        if over:
            plural = store_key.rsplit("/", 1)[-1]
            raise errors.forbidden(
                f'{plural} "{obj["metadata"].get("name", "")}" is forbidden: exceeded quota: '
                f"{name}, requested: {_listed(over, 1)}, used: {_listed(over, 2)}, "
                f"limited: {_listed(over, 3)}"
            )


def _listed(over: list[tuple[str, Fraction, Fraction, Fraction]], index: int) -> str:
    """``pods=1,requests.cpu=500m``: one figure (requested, used or limited) of each key."""
    return ",".join(f"{key}={format_quantity(key, figures[index - 1])}"
                    for key, *figures in over)  # fmt: skip


def _unspecified(pod: Obj, which: str, resource: str) -> list[str]:
    containers, inits = _containers(pod)
    return [c.get("name", "") for c in [*inits, *containers]
            if resource not in ((c.get("resources") or {}).get(which) or {})]  # fmt: skip


def apply_limit_defaults(pod: Obj, limit_ranges: Iterable[Obj]) -> None:
    """Fill in container requests and limits a LimitRange defaults, where the pod gives none."""
    containers, inits = _containers(pod)
    for limit_range in limit_ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if item.get("type", "Container") != "Container":
                continue
            for container in [*inits, *containers]:
                resources = container.setdefault("resources", {})
                pairs = (("limits", item.get("default")), ("requests", item.get("defaultRequest")))
                for which, defaults in pairs:
                    for resource, value in (defaults or {}).items():
                        resources.setdefault(which, {}).setdefault(resource, value)
                # A limit with no request: the request is the limit, as upstream.
                for resource, value in (resources.get("limits") or {}).items():
                    resources.setdefault("requests", {}).setdefault(resource, value)


def status(quota: Obj, objects_of: ObjectsOf) -> Obj:
    """The quota's ``status``: its hard caps and what the namespace uses of each."""
    hard = ((quota.get("spec") or {}).get("hard")) or {}
    used = {}
    for key in hard:
        source = source_of(key)
        if source is not None:
            used[key] = format_quantity(key, usage(key, objects_of(source)))
    return {"hard": dict(hard), "used": used}
