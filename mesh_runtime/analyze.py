"""``meshctl analyze``: what is valid config but will not do what the learner meant.

Validation refuses config Istio cannot take; analysis reads the config the
cluster holds (and any files about to be applied) against each other and
warns in istioctl's words and codes: a route to a host or subset that does
not exist, a VirtualService bound to a missing Gateway, two VirtualServices
for one host, a namespace or pod without the sidecar, a port whose name
hides its protocol. These are the mistakes a lab step most often hinges on.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mesh_runtime.inject import INJECT_ANNOTATION
from mesh_runtime.pilot.model import fqdn as _fqdn

Obj = dict[str, Any]
PROTOCOL_PREFIXES = ("http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo",
                     "mysql", "redis", "udp")  # fmt: skip
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "istio-system")
LEVELS = ("Info", "Warning", "Error")


@dataclass(frozen=True, order=True)
class Message:
    level: str
    code: str
    resource: str
    text: str

    def __str__(self) -> str:
        return f"{self.level} [{self.code}] ({self.resource}) {self.text}"


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _namespace(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace") or "default")


def _name(obj: Obj) -> str:
    """How istioctl names a resource in a message: ``VirtualService default/reviews``."""
    if obj["kind"] == "Namespace":
        return f"Namespace {obj['metadata']['name']}"
    return f"{obj['kind']} {_namespace(obj)}/{obj['metadata']['name']}"


class Config:
    """The objects analysed, indexed the way the checks look them up."""

    def __init__(self, objects: Iterable[Obj]) -> None:
        by_key: dict[tuple[str, str, str], Obj] = {}
        for obj in objects:  # later ones (files) replace earlier ones (the cluster)
            if (
                isinstance(obj, dict)
                and obj.get("kind")
                and (obj.get("metadata") or {}).get("name")
            ):
                by_key[(obj["kind"], _namespace(obj), obj["metadata"]["name"])] = obj
        self.objects = list(by_key.values())
        self.services = {_fqdn(o["metadata"]["name"], _namespace(o)) for o in self.of("Service")}
        self.entry_hosts = [
            str(host)
            for entry in self.of("ServiceEntry")
            for host in _spec(entry).get("hosts") or []
        ]

    def of(self, kind: str) -> Iterator[Obj]:
        return (obj for obj in self.objects if obj["kind"] == kind)

    def host_known(self, host: str) -> bool:
        """A Service's name, or a ServiceEntry host (``*.example.com`` covers its subdomains)."""
        return host in self.services or any(
            fnmatch.fnmatchcase(host, pattern) for pattern in self.entry_hosts
        )

    def subsets(self, host: str) -> set[str]:
        """Subset names the DestinationRules for ``host`` define."""
        return {
            subset.get("name")
            for rule in self.of("DestinationRule")
            if _fqdn(str(_spec(rule).get("host", "")), _namespace(rule)) == host
            for subset in _spec(rule).get("subsets") or []
        }

    def gateway_known(self, name: str, namespace: str) -> bool:
        gateway_namespace, _, gateway = name.rpartition("/")
        key = ("Gateway", gateway_namespace or namespace, gateway)
        return any(
            ("Gateway", _namespace(g), g["metadata"]["name"]) == key for g in self.of("Gateway")
        )


def analyze(objects: Iterable[Obj], namespaces: set[str] | None = None) -> list[Message]:
    """Findings about ``objects`` in ``namespaces`` (all when None), errors first."""
    config = Config(objects)
    messages: list[Message] = []
    for check in CHECKS:
        messages.extend(check(config))
    chosen = [
        m for m in messages
        if namespaces is None or _message_namespace(m) in namespaces
    ]  # fmt: skip
    return sorted(set(chosen), key=lambda m: (-LEVELS.index(m.level), m.resource, m.text))


def _message_namespace(message: Message) -> str:
    kind, _, name = message.resource.partition(" ")
    return name if kind == "Namespace" else name.split("/")[0]


def _destinations(rule: Obj) -> Iterator[Obj]:
    for section in ("http", "tcp", "tls"):
        for route in _spec(rule).get(section) or []:
            for weighted in route.get("route") or []:
                if isinstance(weighted.get("destination"), dict):
                    yield weighted["destination"]
            if isinstance(route.get("mirror"), dict):
                yield route["mirror"]


def _referenced_resources(config: Config) -> Iterator[Message]:
    for rule in config.of("VirtualService"):
        namespace = _namespace(rule)
        for destination in _destinations(rule):
            named, subset = destination.get("host"), destination.get("subset")
            host = _fqdn(str(named or ""), namespace)
            if not config.host_known(host):
                yield Message(
                    "Error", "IST0101", _name(rule), f'Referenced host not found: "{named}"'
                )
            elif subset and subset not in config.subsets(host):
                text = f'Referenced host+subset in destinationrule not found: "{named}+{subset}"'
                yield Message("Error", "IST0101", _name(rule), text)
        for gateway in _spec(rule).get("gateways") or []:
            if gateway != "mesh" and not config.gateway_known(gateway, namespace):
                yield Message("Error", "IST0101", _name(rule),
                              f'Referenced gateway not found: "{gateway}"')  # fmt: skip
    for rule in config.of("DestinationRule"):
        host = _fqdn(str(_spec(rule).get("host", "")), _namespace(rule))
        if "*" not in host and not config.host_known(host):
            yield Message("Warning", "IST0101", _name(rule),
                          f'Referenced host not found: "{_spec(rule).get("host")}"')  # fmt: skip


def _conflicting_hosts(config: Config) -> Iterator[Message]:
    """Two VirtualServices for one host on the mesh: only the older one takes effect."""
    owners: dict[str, list[Obj]] = {}
    for rule in config.of("VirtualService"):
        if "mesh" in (_spec(rule).get("gateways") or ["mesh"]):
            for host in _spec(rule).get("hosts") or []:
                owners.setdefault(_fqdn(host, _namespace(rule)), []).append(rule)
    for host, rules in owners.items():
        if len(rules) > 1:
            names = ",".join(sorted(f"{_namespace(r)}/{r['metadata']['name']}" for r in rules))
            for rule in rules:
                yield Message(
                    "Error", "IST0109", _name(rule),
                    f"The VirtualServices {names} associated with mesh gateway define the same "
                    f'host "{host}" which can lead to undefined behavior. This can be fixed by '
                    "merging the conflicting VirtualServices into a single resource.",
                )  # fmt: skip


def _injection(config: Config) -> Iterator[Message]:
    injected: set[str] = set()
    for namespace in config.of("Namespace"):
        name = namespace["metadata"]["name"]
        label = (namespace["metadata"].get("labels") or {}).get("istio-injection")
        if label == "enabled":
            injected.add(name)
        elif label is None and name not in SYSTEM_NAMESPACES:
            yield Message(
                "Info", "IST0102", _name(namespace),
                "The namespace is not enabled for Istio injection. Run 'kubectl label namespace "
                f"{name} istio-injection=enabled' to enable it, or 'kubectl label namespace "
                f"{name} istio-injection=disabled' to explicitly mark it as not needing injection.",
            )  # fmt: skip
    for pod in config.of("Pod"):
        annotations = pod["metadata"].get("annotations") or {}
        containers = [c.get("name") for c in _spec(pod).get("containers") or []]
        wanted = _namespace(pod) in injected and annotations.get(INJECT_ANNOTATION) != "false"
        if wanted and "istio-proxy" not in containers:
            yield Message(
                "Warning", "IST0103", _name(pod),
                f"The pod {pod['metadata']['name']} is missing the Istio proxy. This can often "
                "be resolved by restarting or redeploying the workload.",
            )  # fmt: skip


def _port_names(config: Config) -> Iterator[Message]:
    for service in config.of("Service"):
        if _namespace(service) in SYSTEM_NAMESPACES:
            continue
        for port in _spec(service).get("ports") or []:
            name = str(port.get("name", ""))
            if port.get("appProtocol") or name.split("-")[0].lower() in PROTOCOL_PREFIXES:
                continue
            yield Message(
                "Info", "IST0118", _name(service),
                f"Port name {name} (port: {port.get('port')}, targetPort: "
                f"{port.get('targetPort', port.get('port'))}) doesn't follow the naming "
                "convention of Istio port.",
            )  # fmt: skip


CHECKS = (_referenced_resources, _conflicting_hosts, _injection, _port_names)
