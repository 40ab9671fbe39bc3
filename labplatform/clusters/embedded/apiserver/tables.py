"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` prints.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints
the cells it gets back; without a Table it can show only NAME and AGE. The
columns and cells here follow the real API server (kube-apiserver's printers
for built-in kinds, apiextensions' convertor for custom resources), so a
learner's terminal reads the way tutorials say it will. Like the real server,
every row carries the wide columns too: kubectl hides priority-1 columns
unless asked for ``-o wide``. Column descriptions, which kubectl does not
print, summarise the API field documentation the real server quotes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.selectors import label_selector_from_spec

Obj = dict[str, Any]
Cell = Callable[[Obj, datetime], object]


@dataclass(frozen=True)
class Column:
    """One column: its ``TableColumnDefinition`` and how to compute its cell."""

    name: str
    cell: Cell
    type: str = "string"  # string, integer, number, boolean, date
    format: str = ""  # "name" for the column that names the object
    description: str = ""
    priority: int = 0  # 1: shown only with -o wide

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


# -- time --------------------------------------------------------------------------

_MICROSECOND = timedelta(microseconds=1)


def human_duration(delta: timedelta) -> str:
    """Kubernetes' ``duration.HumanDuration``: 5s, 2m3s, 10m, 3h4m, 5d, 2y45d.

    Precision falls as the age grows, so the column stays short; up to a
    second in the future still reads ``0s`` to absorb clock skew.
    """
    micros = delta // _MICROSECOND
    seconds = micros // 10**6 if micros >= 0 else -(-micros // 10**6)  # Go truncates
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
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
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.A)


def _timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp as the API writes them; None when absent or malformed."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # well formed, but no such day or hour
        return None


def _since(value: object, now: datetime) -> str:
    """How long ago ``value`` was, or ``<unknown>`` when there is no time."""
    moment = _timestamp(value)
    return human_duration(now - moment) if moment else "<unknown>"


# -- cells shared by many kinds ---------------------------------------------------------


def _get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """The value at ``path`` through maps and lists, or ``default`` if a step is missing."""
    for step in path:
        if isinstance(step, int):
            obj = obj[step] if isinstance(obj, list) and -len(obj) <= step < len(obj) else None
        else:
            obj = obj.get(step) if isinstance(obj, dict) else None
        if obj is None:
            return default
    return obj


def _at(*path: str, default: Any = "") -> Cell:
    """A cell showing the value at ``path`` (Go's zero value when absent)."""
    return lambda obj, _: _get(obj, *path, default=default)


def _none_at(*path: str) -> Cell:
    """A cell showing the value at ``path``, or ``<none>`` when it is empty."""
    return lambda obj, _: _get(obj, *path) or "<none>"


def _int_at(*path: str) -> Cell:
    return lambda obj, _: int(_get(obj, *path, default=0))


def _length_at(*fields: str) -> Cell:
    """How many entries the maps or lists at top-level ``fields`` hold together."""
    return lambda obj, _: sum(len(obj.get(field) or ()) for field in fields)


def _column(name: str, cell: Cell, description: str, **kw: Any) -> Column:
    return Column(name, cell, description=description, **kw)


def _wide(name: str, cell: Cell, description: str, **kw: Any) -> Column:
    return Column(name, cell, description=description, priority=1, **kw)


_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATED_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

NAME = _column("Name", _at("metadata", "name"), _NAME_DOC, format="name")
AGE = _column(
    "Age", lambda o, now: _since(_get(o, "metadata", "creationTimestamp"), now), _CREATED_DOC
)
DEFAULT_COLUMNS = [NAME, AGE]


def _containers(field: str) -> Cell:
    """The pod template's containers' names or images, comma-separated."""
    path = ("spec", "template", "spec", "containers")
    return lambda obj, _: ",".join(c.get(field, "") for c in _get(obj, *path, default=[]))


_CONTAINERS = _wide("Containers", _containers("name"), "Names of each container in the template.")
_IMAGES = _wide(
    "Images", _containers("image"), "Images referenced by each container in the template."
)


def _selector(obj: Obj, _now: datetime) -> str:
    """``spec.selector`` in query syntax, or ``<none>``."""
    return label_selector_from_spec(_get(obj, "spec", "selector")).to_query() or "<none>"


# -- pods ----------------------------------------------------------------------------------


class _PodSummary(NamedTuple):
    ready: str
    status: str
    restarts: str


def _termination(state: dict[str, Any]) -> str:
    if state.get("reason"):
        return str(state["reason"])
    if state.get("signal"):
        return f"Signal:{state['signal']}"
    return f"ExitCode:{state.get('exitCode', 0)}"


def _condition_true(status: dict[str, Any], kind: str) -> bool:
    conditions = status.get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _restarts(statuses: Iterable[dict[str, Any]]) -> tuple[int, datetime | None]:
    """How often these containers restarted, and when the last one last stopped."""
    count, finished = 0, []
    for container in statuses:
        count += int(container.get("restartCount") or 0)
        finished.append(_timestamp(_get(container, "lastState", "terminated", "finishedAt")))
    return count, max((t for t in finished if t), default=None)


def _init_progress(
    spec: dict[str, Any], status: dict[str, Any], sidecars: set[str]
) -> tuple[str, int, list[dict[str, Any]]]:
    """What the init containers say: the STATUS they impose (``""`` once they are
    done), how many sidecars are ready, and the statuses looked at to tell."""
    statuses = status.get("initContainerStatuses") or []
    ready = 0
    for i, container in enumerate(statuses):
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting") or {}
        if terminated is not None and not terminated.get("exitCode"):
            continue
        if container.get("name") in sidecars and container.get("started"):
            ready += bool(container.get("ready"))
            continue
        if terminated is not None:
            reason = "Init:" + _termination(terminated)
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        return reason, ready, statuses[: i + 1]
    return "", ready, statuses


def _containers_progress(
    reason: str, status: dict[str, Any], statuses: list[dict[str, Any]]
) -> tuple[str, int]:
    """The STATUS the app containers impose over ``reason``, and how many are ready.

    The first container's state wins; ``Completed`` with a container still
    running reads ``Running`` (or ``NotReady``), unless another one failed.
    """
    running, ready, failure = False, 0, ""
    for container in reversed(statuses):
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None:
            reason = _termination(terminated)
            failure = reason if terminated.get("exitCode") else failure
        elif container.get("ready") and state.get("running") is not None:
            running, ready = True, ready + 1
    if reason == "Completed":
        if running and _condition_true(status, "Ready"):
            reason = "Running"
        elif failure or running:
            reason = failure or "NotReady"
    return reason, ready


def _pod_summary(pod: Obj, now: datetime) -> _PodSummary:
    """READY, STATUS and RESTARTS, reasoned the way kube-apiserver's pod printer does.

    STATUS is the phase unless something says more: a scheduling gate, an
    init container still running or failing (``Init:1/2``,
    ``Init:CrashLoopBackOff``), a container's waiting or terminated reason
    (``CrashLoopBackOff``, ``Completed``, ``ExitCode:1``), or deletion
    (``Terminating``). Sidecars (init containers that always restart) count as
    containers.
    """
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or []
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions
    ):
        reason = "SchedulingGated"
    sidecars = {
        c.get("name", "")
        for c in spec.get("initContainers") or []
        if c.get("restartPolicy") == "Always"
    }
    init_reason, ready, examined = _init_progress(spec, status, sidecars)
    reason = init_reason or reason
    if init_reason and not _condition_true(status, "Initialized"):
        restarts, last_restart = _restarts(examined)
    else:
        containers = status.get("containerStatuses") or []
        started = [c for c in examined if c.get("name") in sidecars]
        restarts, last_restart = _restarts(started + containers)
        reason, ready_containers = _containers_progress(reason, status, containers)
        ready += ready_containers
    if _get(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    total = len(spec.get("containers") or []) + len(sidecars)
    return _PodSummary(f"{ready}/{total}", reason, restarts_text)


def _pod(field: str) -> Cell:
    return lambda pod, now: getattr(_pod_summary(pod, now), field)


def _pod_ip(pod: Obj, _now: datetime) -> Any:
    return _get(pod, "status", "podIPs", 0, "ip") or _get(pod, "status", "podIP") or "<none>"


def _readiness_gates(pod: Obj, _now: datetime) -> str:
    gates = _get(pod, "spec", "readinessGates", default=[])
    if not gates:
        return "<none>"
    conditions = _get(pod, "status", "conditions", default=[])
    states = {c.get("type"): c.get("status") for c in conditions}
    passed = sum(1 for gate in gates if states.get(gate.get("conditionType")) == "True")
    return f"{passed}/{len(gates)}"


_POD_COLUMNS = [
    NAME,
    _column("Ready", _pod("ready"), "The aggregate readiness state of this pod."),
    _column("Status", _pod("status"), "The aggregate status of the containers in this pod."),
    _column("Restarts", _pod("restarts"), "How often its containers restarted, and when last."),
    AGE,
    _wide("IP", _pod_ip, "podIP address allocated to the pod."),
    _wide("Node", _none_at("spec", "nodeName"), "The node this pod is scheduled on."),
    _wide("Nominated Node", _none_at("status", "nominatedNodeName"), "Where preemption made room."),
    _wide("Readiness Gates", _readiness_gates, "How many of the pod's readiness gates are True."),
]


# -- services and endpoints -------------------------------------------------------------


def _external_ip(svc: Obj, _now: datetime) -> str:
    spec = svc.get("spec") or {}
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = _get(svc, "status", "loadBalancer", "ingress", default=[])
        balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        return ",".join(balancers + external) or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_ports(svc: Obj, _now: datetime) -> str:
    pieces = []
    for port in _get(svc, "spec", "ports", default=[]):
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        pieces.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(pieces) or "<none>"


def _cluster_ip(svc: Obj, _now: datetime) -> Any:
    return _get(svc, "spec", "clusterIPs", 0) or _get(svc, "spec", "clusterIP") or "<none>"


def _service_selector(svc: Obj, _now: datetime) -> str:
    selector = _get(svc, "spec", "selector", default={})
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def _first_three(items: list[str], empty: str) -> str:
    """At most three items, then ``+ N more...``, as the printers shorten lists."""
    if len(items) > 3:
        return f"{','.join(items[:3])} + {len(items) - 3} more..."
    return ",".join(items) or empty


def _endpoints(ep: Obj, _now: datetime) -> str:
    items = []
    for subset in ep.get("subsets") or []:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = [p.get("port") for p in subset.get("ports") or []]
        if not ports:  # a headless service may have no ports
            items += addresses
        for port in ports:
            items += [f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in addresses]
    return _first_three(items, "<none>")


def _slice_ports(eps: Obj, _now: datetime) -> str:
    ports = eps.get("ports") or []
    shown = [str(p["port"]) if p.get("port") is not None else p.get("name") or "*" for p in ports]
    return _first_three(shown, "<unset>")


def _slice_endpoints(eps: Obj, _now: datetime) -> str:
    addresses = [a for e in eps.get("endpoints") or [] for a in e.get("addresses") or []]
    return _first_three(addresses, "<unset>")


_SERVICE_COLUMNS = [
    NAME,
    _column("Type", _at("spec", "type"), "type determines how the Service is exposed."),
    _column("Cluster-IP", _cluster_ip, "clusterIP is the IP address of the service."),
    _column("External-IP", _external_ip, "IP addresses on which nodes also accept its traffic."),
    _column("Port(s)", _service_ports, "The list of ports that are exposed by this service."),
    AGE,
    _wide("Selector", _service_selector, "Route service traffic to pods matching this selector."),
]
_ENDPOINTS_COLUMNS = [
    NAME,
    _column("Endpoints", _endpoints, "The set of all endpoints is the union of all subsets."),
    AGE,
]
_ENDPOINT_SLICE_COLUMNS = [
    NAME,
    _column("AddressType", _at("addressType"), "The type of address carried by this slice."),
    _column("Ports", _slice_ports, "The network ports exposed by each endpoint in this slice."),
    _column("Endpoints", _slice_endpoints, "A list of unique endpoints in this slice."),
    AGE,
]


# -- workloads ---------------------------------------------------------------------------


def _deployment_ready(deploy: Obj, _now: datetime) -> str:
    ready, desired = _get(deploy, "status", "readyReplicas"), _get(deploy, "spec", "replicas")
    return f"{ready or 0}/{desired or 0}"


def _deployment_selector(deploy: Obj, _now: datetime) -> str:
    # Unlike the other printers, the deployment printer leaves an empty selector blank.
    return label_selector_from_spec(_get(deploy, "spec", "selector")).to_query()


_DEPLOYMENT_COLUMNS = [
    NAME,
    _column("Ready", _deployment_ready, "Number of the pod with ready state"),
    _column("Up-to-date", _int_at("status", "updatedReplicas"), "Pods with the desired template."),
    _column("Available", _int_at("status", "availableReplicas"), "Available pods."),
    AGE,
    _CONTAINERS,
    _IMAGES,
    _wide("Selector", _deployment_selector, "Label selector for pods."),
]
_REPLICASET_COLUMNS = [
    NAME,
    _column("Desired", _int_at("spec", "replicas"), "The number of desired pods.", type="integer"),
    _column("Current", _int_at("status", "replicas"), "Non-terminating pods.", type="integer"),
    _column("Ready", _int_at("status", "readyReplicas"), "Ready pods.", type="integer"),
    AGE,
    _CONTAINERS,
    _IMAGES,
    _wide("Selector", _selector, "A label query over pods that should match the replica count."),
]


# -- events --------------------------------------------------------------------------------


class _EventTimes(NamedTuple):
    last: str
    first: str
    occurrences: int


def _event_times(event: Obj, now: datetime) -> _EventTimes:
    """LAST SEEN, FIRST SEEN and COUNT across the old and new event APIs' fields."""
    first = _since(event.get("firstTimestamp") or event.get("eventTime"), now)
    last = _since(event["lastTimestamp"], now) if event.get("lastTimestamp") else first
    series = event.get("series")
    if series:
        return _EventTimes(
            _since(series.get("lastObservedTime"), now), first, int(series.get("count") or 0)
        )
    # An event of the new API without a series happened once.
    return _EventTimes(last, first, int(event.get("count") or 0) or 1)


def _event(field: str) -> Cell:
    return lambda event, now: getattr(_event_times(event, now), field)


def _event_object(event: Obj, _now: datetime) -> str:
    ref = event.get("involvedObject") or {}
    kind = str(ref.get("kind", "")).lower()
    return f"{kind}/{ref['name']}" if ref.get("name") else kind


def _event_source(event: Obj, _now: datetime) -> str:
    component = _get(event, "source", "component") or event.get("reportingComponent") or ""
    host = _get(event, "source", "host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


_EVENT_COLUMNS = [
    _column("Last Seen", _event("last"), "The time of the most recent occurrence of this event."),
    _column("Type", _at("type"), "Type of this event (Normal, Warning)."),
    _column("Reason", _at("reason"), "Why the object transitioned into its current status."),
    _column("Object", _event_object, "The object that this event is about."),
    _wide("Subobject", _at("involvedObject", "fieldPath"), "The part of the object concerned."),
    _wide("Source", _event_source, "The component reporting this event."),
    _column("Message", lambda e, _: str(e.get("message", "")).strip(), "What happened."),
    _wide("First Seen", _event("first"), "The time at which the event was first recorded."),
    _wide("Count", _event("occurrences"), "The number of times this event has occurred."),
    _wide("Name", NAME.cell, _NAME_DOC, format="name"),
]


# -- nodes -----------------------------------------------------------------------------------


def _node_status(node: Obj, _now: datetime) -> str:
    conditions = _get(node, "status", "conditions", default=[])
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    status = (
        "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    )
    return status + (",SchedulingDisabled" if _get(node, "spec", "unschedulable") else "")


def _node_roles(node: Obj, _now: datetime) -> str:
    prefix, roles = "node-role.kubernetes.io/", set()
    for key, value in (_get(node, "metadata", "labels") or {}).items():
        if key.startswith(prefix) and key != prefix:
            roles.add(key.removeprefix(prefix))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(kind: str) -> Cell:
    def cell(node: Obj, _now: datetime) -> str:
        addresses = _get(node, "status", "addresses", default=[])
        return next((a.get("address", "") for a in addresses if a.get("type") == kind), "<none>")

    return cell


def _node_info(field: str) -> Cell:
    return lambda node, _: _get(node, "status", "nodeInfo", field) or "<unknown>"


_NODE_COLUMNS = [
    NAME,
    _column("Status", _node_status, "The status of the node"),
    _column("Roles", _node_roles, "The roles of the node"),
    AGE,
    _column("Version", _at("status", "nodeInfo", "kubeletVersion"), "Kubelet Version."),
    _wide("Internal-IP", _node_address("InternalIP"), "List of addresses reachable to the node."),
    _wide("External-IP", _node_address("ExternalIP"), "List of addresses reachable to the node."),
    _wide("OS-Image", _node_info("osImage"), "OS Image reported by the node."),
    _wide("Kernel-Version", _node_info("kernelVersion"), "Kernel Version reported by the node."),
    _wide("Container-Runtime", _node_info("containerRuntimeVersion"), "Container runtime version."),
]


# -- the rest --------------------------------------------------------------------------------


def _created_at(obj: Obj, _now: datetime) -> str:
    """RFC 3339 in UTC, as the generic table convertor writes CREATED AT."""
    moment = _timestamp(_get(obj, "metadata", "creationTimestamp")) or datetime(1, 1, 1, tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


_WEBHOOK_COLUMNS = [
    NAME,
    _column("Webhooks", _length_at("webhooks"), "The number of webhooks.", type="integer"),
    AGE,
]

BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "Pod": _POD_COLUMNS,
    "Service": _SERVICE_COLUMNS,
    "Endpoints": _ENDPOINTS_COLUMNS,
    "EndpointSlice": _ENDPOINT_SLICE_COLUMNS,
    "Deployment": _DEPLOYMENT_COLUMNS,
    "ReplicaSet": _REPLICASET_COLUMNS,
    "Namespace": [
        NAME,
        _column("Status", _at("status", "phase"), "The status of the namespace"),
        AGE,
    ],
    "ConfigMap": [
        NAME,
        _column("Data", _length_at("data", "binaryData"), "The number of configuration entries."),
        AGE,
    ],
    "Secret": [
        NAME,
        _column("Type", _at("type"), "Used to facilitate programmatic handling of secret data."),
        _column("Data", _length_at("data"), "The number of entries in the secret data."),
        AGE,
    ],
    # Since 1.24 a ServiceAccount's token secrets are no longer counted.
    "ServiceAccount": [NAME, AGE],
    "Event": _EVENT_COLUMNS,
    "Node": _NODE_COLUMNS,
    "MutatingWebhookConfiguration": _WEBHOOK_COLUMNS,
    "ValidatingWebhookConfiguration": _WEBHOOK_COLUMNS,
    "CustomResourceDefinition": [
        NAME,
        _column("Created At", _created_at, _CREATED_DOC, type="date"),
    ],
}


# -- custom resources ------------------------------------------------------------------


class _Step(NamedTuple):
    """One JSONPath step: a field, an index, every element, or an equality filter."""

    kind: str  # field, index, all, filter
    name: str = ""
    position: int = 0
    path: tuple[_Step, ...] = ()
    negate: bool = False
    literal: str = ""


_STEP = re.compile(
    r"""\.(?P<field>(?:\\.|[^.\[\\])+)
      | \.?\[\s*(?P<quote>['"])(?P<key>.*?)(?P=quote)\s*\]
      | \.?\[\s*(?P<index>-?\d+)\s*\]
      | \.?\[\s*\*\s*\]
      | \.?\[\s*\?\(\s*@(?P<filter>[^=!]*?)\s*(?P<op>==|!=)\s*(?P<literal>[^)]*?)\s*\)\s*\]""",
    re.X,
)


def _compile(path: str) -> tuple[_Step, ...]:
    """The simple JSONPath subset printer columns use: ``.a.b``, ``['k']``, ``[0]``,
    ``[*]`` and ``[?(@.type=="Ready")]``."""
    steps = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise errors.ApiError(
                500, "InternalError", f"unrecognized column definition {json.dumps(path)}"
            )
        if match["field"] == "*":
            steps.append(_Step("all"))
        elif match["field"] is not None:
            steps.append(_Step("field", name=match["field"].replace("\\.", ".")))
        elif match["quote"] is not None:
            steps.append(_Step("field", name=match["key"]))
        elif match["index"] is not None:
            steps.append(_Step("index", position=int(match["index"])))
        elif match["op"] is not None:
            literal = match["literal"]
            if len(literal) > 1 and literal[0] == literal[-1] and literal[0] in "'\"":
                literal = literal[1:-1]
            steps.append(
                _Step(
                    "filter",
                    path=_compile(match["filter"]),
                    negate=match["op"] == "!=",
                    literal=literal,
                )
            )
        else:
            steps.append(_Step("all"))
        position = match.end()
    return tuple(steps)


def _evaluate(steps: Iterable[_Step], value: Any) -> list[Any]:
    """Every value the path reaches; missing keys reach nothing."""
    found = [value]
    for step in steps:
        reached: list[Any] = []
        for item in found:
            if step.kind == "field" and isinstance(item, dict) and step.name in item:
                reached.append(item[step.name])
            elif step.kind == "index" and isinstance(item, list):
                if -len(item) <= step.position < len(item):
                    reached.append(item[step.position])
            elif step.kind == "all" and isinstance(item, dict | list):
                reached += item if isinstance(item, list) else list(item.values())
            elif step.kind == "filter" and isinstance(item, list):
                reached += [element for element in item if _passes(step, element)]
        found = reached
    return found


def _passes(step: _Step, element: Any) -> bool:
    equal = any(_text(value) == step.literal for value in _evaluate(step.path, element))
    return equal != step.negate


def _text(value: Any) -> str:
    """A value in a string column: strings as they are, lists and maps as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Go's %v: integral values without a fraction; otherwise Python's repr agrees.
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        # Go's encoder escapes HTML-significant characters.
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return str(value)


def _typed(kind: str, value: Any, now: datetime) -> object:
    """A non-string column's cell: the value if it has the column's type, else nothing."""
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        return _since(value, now) if _timestamp(value) else "<invalid>"
    return None


def _printer_cell(kind: str, steps: tuple[_Step, ...]) -> Cell:
    def cell(obj: Obj, now: datetime) -> object:
        found = _evaluate(steps, obj)
        if not found or found[0] is None:
            return None
        return _text(found[0]) if kind == "string" else _typed(kind, found[0], now)

    return cell


_DEFAULT_PRINTER_COLUMNS = [
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": _CREATED_DOC,
    }
]


def columns_from_printer_columns(printer_columns: list[dict[str, Any]]) -> list[Column]:
    """A custom resource version's columns from its CRD's ``additionalPrinterColumns``.

    NAME comes first; a version that declares no columns at all gets AGE, as
    the real server adds it (one that declares any must list AGE itself, as
    Istio's do). Cells take the first value the JSONPath reaches: string
    columns print lists and maps as JSON (``["reviews"]``), date columns read
    as an age, and a value of the wrong type leaves the cell empty.
    """
    columns = [NAME]
    for spec in printer_columns or _DEFAULT_PRINTER_COLUMNS:
        kind = spec.get("type", "string")
        path = spec.get("jsonPath", "")
        columns.append(
            Column(
                spec["name"],
                _printer_cell(kind, _compile(path)),
                type=kind,
                format=spec.get("format", ""),
                description=spec.get("description")
                or f"Custom resource definition column (in JSONPath format): {path}",
                priority=int(spec.get("priority", 0)),
            )
        )
    return columns


# -- the table -------------------------------------------------------------------------

_LIST_META = ("resourceVersion", "continue", "remainingItemCount")


def build_table(
    columns: list[Column],
    objects: list[Obj],
    include_object: str = "Metadata",
    now: datetime | None = None,
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects``, as ``includeObject`` asks.

    ``Metadata`` (the default) gives each row a ``PartialObjectMetadata``,
    which kubectl reads for ``-A``'s NAMESPACE column, ``--show-labels`` and
    ``-L``; ``Object`` the whole object (``--sort-by`` asks for it); ``None``
    nothing. ``list_meta`` supplies the list's resourceVersion and continue.
    """
    if include_object not in ("Metadata", "Object", "None", ""):
        raise errors.bad_request(f"unrecognized includeObject value: {json.dumps(include_object)}")
    now = now or datetime.now(UTC)
    rows = []
    for obj in objects:
        if include_object == "Object":
            attached: Obj | None = obj
        elif include_object == "None":
            attached = None
        else:
            attached = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata") or {},
            }
        rows.append({"cells": [column.cell(obj, now) for column in columns], "object": attached})
    meta = {key: value for key, value in (list_meta or {}).items() if key in _LIST_META}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [column.definition() for column in columns],
        "rows": rows,
    }
