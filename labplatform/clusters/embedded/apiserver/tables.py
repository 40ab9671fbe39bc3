"""Server-side printing: the columns ``kubectl get`` shows for each kind.

kubectl asks for a ``meta.k8s.io`` Table and prints what it gets; without
one it can show only NAME and AGE. Each kind's columns here match upstream's
printers, so a learner's terminal looks the way tutorials say it will.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Obj = dict[str, Any]
Cell = Callable[[Obj, datetime], object]


@dataclass(frozen=True)
class Column:
    name: str
    cell: Cell
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def human_duration(delta: timedelta) -> str:
    """Kubernetes' ``duration.HumanDuration``: 5s, 2m3s, 10m, 3h4m, 5d, 2y45d."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{hours // 24 // 365}y"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _age_of(stamp: str | None, now: datetime) -> str:
    moment = _parse_time(stamp)
    return human_duration(now - moment) if moment else "<unknown>"


def _get(obj: Obj, *path: str, default: Any = None) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, dict):
            return default
        value = value.get(part)
    return default if value is None else value


NAME = Column(
    "Name",
    lambda o, _: o["metadata"]["name"],
    format="name",
    description="Name must be unique within a namespace.",
)
AGE = Column(
    "Age",
    lambda o, now: _age_of(o["metadata"].get("creationTimestamp"), now),
    description="CreationTimestamp is a timestamp representing the server time when "
    "this object was created.",
)
DEFAULT_COLUMNS = [NAME, AGE]


# -- pods ----------------------------------------------------------------------


def _pod_status(pod: Obj, _now: datetime) -> str:
    """The STATUS column, reasoned the way kubectl's pod printer does."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Unknown"
    init_specs = _get(pod, "spec", "initContainers", default=[])
    for i, container in enumerate(status.get("initContainerStatuses", []) or []):
        state = container.get("state", {})
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            detail = terminated.get("reason") or (
                f"Signal:{terminated['signal']}"
                if terminated.get("signal")
                else f"ExitCode:{terminated.get('exitCode')}"
            )
            reason = f"Init:{detail}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break
    else:
        running = False
        for container in reversed(status.get("containerStatuses", []) or []):
            state = container.get("state", {})
            if state.get("waiting", {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated"):
                term = state["terminated"]
                reason = term.get("reason") or (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode')}"
                )
            elif state.get("running") and container.get("ready"):
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_ready(pod: Obj, _now: datetime) -> str:
    statuses = _get(pod, "status", "containerStatuses", default=[])
    total = len(_get(pod, "spec", "containers", default=[]))
    return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"


def _pod_restarts(pod: Obj, now: datetime) -> str:
    statuses = _get(pod, "status", "containerStatuses", default=[])
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    finished = [_parse_time(_get(c, "lastState", "terminated", "finishedAt")) for c in statuses]
    last = max(
        (moment for moment in finished if moment is not None),
        default=None,
    )
    if restarts and last:
        return f"{restarts} ({human_duration(now - last)} ago)"
    return str(restarts)


def _none(value: Any) -> str:
    return str(value) if value not in (None, "", []) else "<none>"


POD_COLUMNS = [
    NAME,
    Column("Ready", _pod_ready, description="The aggregate readiness state of this pod."),
    Column("Status", _pod_status, description="The aggregate status of the containers."),
    Column("Restarts", _pod_restarts, description="The number of times the containers restarted."),
    AGE,
    Column("IP", lambda p, _: _none(_get(p, "status", "podIP")), priority=1),
    Column("Node", lambda p, _: _none(_get(p, "spec", "nodeName")), priority=1),
    Column(
        "Nominated Node", lambda p, _: _none(_get(p, "status", "nominatedNodeName")), priority=1
    ),
    Column("Readiness Gates", lambda p, _: _none(_get(p, "spec", "readinessGates")), priority=1),
]


# -- services, endpoints ---------------------------------------------------------


def _ports(svc: Obj, _now: datetime) -> str:
    parts = []
    for port in _get(svc, "spec", "ports", default=[]):
        text = f"{port['port']}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _external_ip(svc: Obj, _now: datetime) -> str:
    spec = svc.get("spec", {})
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName", "<none>"))
    ips = list(spec.get("externalIPs", []) or [])
    ingress = _get(svc, "status", "loadBalancer", "ingress", default=[])
    ips += [i.get("ip") or i.get("hostname") for i in ingress]
    if ips:
        return ",".join(ips)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _selector(obj: Obj, _now: datetime) -> str:
    selector = _get(obj, "spec", "selector", default={})
    labels = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    expressions = selector.get("matchExpressions", []) if isinstance(selector, dict) else []
    parts = [f"{k}={v}" for k, v in sorted(labels.items()) if isinstance(v, str)]
    parts += [
        f"{e['key']} {e['operator'].lower()} ({','.join(e.get('values', []))})" for e in expressions
    ]
    return ",".join(parts) or "<none>"


SERVICE_COLUMNS = [
    NAME,
    Column("Type", lambda s, _: _get(s, "spec", "type", default="ClusterIP")),
    Column("Cluster-IP", lambda s, _: _get(s, "spec", "clusterIP", default="<none>")),
    Column("External-IP", _external_ip),
    Column("Port(s)", _ports),
    AGE,
    Column("Selector", _selector, priority=1),
]


def _endpoint_addresses(ep: Obj, _now: datetime) -> str:
    items = []
    for subset in ep.get("subsets", []) or []:
        ports = subset.get("ports", []) or [{}]
        for address in subset.get("addresses", []) or []:
            for port in ports:
                items.append(f"{address['ip']}:{port['port']}" if "port" in port else address["ip"])
    if not items:
        return "<none>"
    shown = ",".join(items[:3])
    return shown + (f" + {len(items) - 3} more..." if len(items) > 3 else "")


def _slice_endpoints(eps: Obj, _now: datetime) -> str:
    addresses = [a for e in eps.get("endpoints", []) or [] for a in e.get("addresses", [])]
    if not addresses:
        return "<unset>"
    return ",".join(addresses[:3]) + (
        f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    )


def _slice_ports(eps: Obj, _now: datetime) -> str:
    ports = [str(p.get("port")) for p in eps.get("ports", []) or [] if p.get("port") is not None]
    return ",".join(ports) or "<unset>"


# -- workloads -------------------------------------------------------------------


def _containers(template_path: tuple[str, ...], field: str) -> Cell:
    return lambda o, _: ",".join(c.get(field, "") for c in _get(o, *template_path, default=[]))


_TEMPLATE = ("spec", "template", "spec", "containers")

DEPLOYMENT_COLUMNS = [
    NAME,
    Column(
        "Ready",
        lambda d, _: (
            f"{_get(d, 'status', 'readyReplicas', default=0)}/"
            f"{_get(d, 'spec', 'replicas', default=0)}"
        ),
    ),
    Column(
        "Up-to-date", lambda d, _: _get(d, "status", "updatedReplicas", default=0), type="integer"
    ),
    Column(
        "Available", lambda d, _: _get(d, "status", "availableReplicas", default=0), type="integer"
    ),
    AGE,
    Column("Containers", _containers(_TEMPLATE, "name"), priority=1),
    Column("Images", _containers(_TEMPLATE, "image"), priority=1),
    Column("Selector", _selector, priority=1),
]

REPLICASET_COLUMNS = [
    NAME,
    Column("Desired", lambda r, _: _get(r, "spec", "replicas", default=0), type="integer"),
    Column("Current", lambda r, _: _get(r, "status", "replicas", default=0), type="integer"),
    Column("Ready", lambda r, _: _get(r, "status", "readyReplicas", default=0), type="integer"),
    AGE,
    Column("Containers", _containers(_TEMPLATE, "name"), priority=1),
    Column("Images", _containers(_TEMPLATE, "image"), priority=1),
    Column("Selector", _selector, priority=1),
]


def _event_object(event: Obj, _now: datetime) -> str:
    ref = event.get("involvedObject", {})
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _last_seen(event: Obj, now: datetime) -> str:
    stamp = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or _get(event, "metadata", "creationTimestamp")
    )
    return _age_of(stamp, now)


BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "Pod": POD_COLUMNS,
    "Service": SERVICE_COLUMNS,
    "Deployment": DEPLOYMENT_COLUMNS,
    "ReplicaSet": REPLICASET_COLUMNS,
    "Namespace": [NAME, Column("Status", lambda n, _: _get(n, "status", "phase", default="")), AGE],
    "ConfigMap": [
        NAME,
        Column(
            "Data",
            lambda c, _: len(c.get("data") or {}) + len(c.get("binaryData") or {}),
            type="integer",
        ),
        AGE,
    ],
    "Secret": [
        NAME,
        Column("Type", lambda s, _: s.get("type", "Opaque")),
        Column("Data", lambda s, _: len(s.get("data") or {}), type="integer"),
        AGE,
    ],
    "ServiceAccount": [
        NAME,
        Column("Secrets", lambda s, _: len(s.get("secrets") or []), type="integer"),
        AGE,
    ],
    "Endpoints": [NAME, Column("Endpoints", _endpoint_addresses), AGE],
    "EndpointSlice": [
        NAME,
        Column("AddressType", lambda e, _: e.get("addressType", "")),
        Column("Ports", _slice_ports),
        Column("Endpoints", _slice_endpoints),
        AGE,
    ],
    "Event": [
        Column("Last Seen", _last_seen),
        Column("Type", lambda e, _: e.get("type", "")),
        Column("Reason", lambda e, _: e.get("reason", "")),
        Column("Object", _event_object),
        Column("Message", lambda e, _: str(e.get("message", "")).strip()),
        Column("Name", lambda e, _: e["metadata"]["name"], format="name", priority=1),
    ],
    "CustomResourceDefinition": [
        NAME,
        Column("Created At", lambda c, _: c["metadata"].get("creationTimestamp", ""), type="date"),
    ],
    "Node": [
        NAME,
        Column(
            "Status",
            lambda n, _: (
                "Ready"
                if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in _get(n, "status", "conditions", default=[])
                )
                else "NotReady"
            ),
        ),
        Column("Roles", lambda n, _: "control-plane"),
        AGE,
        Column("Version", lambda n, _: _get(n, "status", "nodeInfo", "kubeletVersion", default="")),
    ],
}


# -- custom resources --------------------------------------------------------------


def _json_path(path: str) -> Cell:
    parts = [p for p in path.strip().lstrip(".").split(".") if p]

    def cell(obj: Obj, now: datetime) -> object:
        value = _get(obj, *parts)
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return value

    return cell


def columns_from_printer_columns(printer_columns: list[dict[str, Any]]) -> list[Column]:
    """NAME, the CRD's ``additionalPrinterColumns``, then AGE unless a date column exists."""
    columns = [NAME]
    for spec in printer_columns:
        cell = _json_path(spec.get("jsonPath", ""))
        if spec.get("type") == "date":
            date_cell = cell

            def cell(o: Obj, now: datetime, _c: Cell = date_cell) -> object:
                value = _c(o, now)
                return _age_of(str(value), now) if value else "<unknown>"

        columns.append(
            Column(
                spec["name"],
                cell,
                type=spec.get("type", "string"),
                format=spec.get("format", ""),
                description=spec.get("description", ""),
                priority=int(spec.get("priority", 0)),
            )
        )
    if not any(spec.get("type") == "date" for spec in printer_columns):
        columns.append(AGE)
    return columns


def build_table(
    columns: list[Column],
    objects: list[Obj],
    include_object: str = "Metadata",
    now: datetime | None = None,
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects``."""
    now = now or datetime.now(UTC)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [column.cell(obj, now) for column in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_meta or {}),
        "columnDefinitions": [column.definition() for column in columns],
        "rows": rows,
    }
