"""What pilot knows of the cluster: services, their endpoints, and the networking rules.

Everything is kept as the Kubernetes objects came (plain dicts), indexed the
way the builders ask: a Service by its fully qualified host name, its ready
endpoints with the labels of the pods behind them (subsets select on those),
and the VirtualServices and DestinationRules by the hosts they name, with
short names resolved in the rule's own namespace as Istio does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
DOMAIN = "cluster.local"


def fqdn(host: str, namespace: str) -> str:
    """``reviews`` in ``default`` -> ``reviews.default.svc.cluster.local``, as Istio reads it."""
    if "." not in host:
        return f"{host}.{namespace}.svc.{DOMAIN}"
    parts = host.split(".")
    if len(parts) == 2:  # name.namespace
        return f"{host}.svc.{DOMAIN}"
    return host


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    protocol: str  # "HTTP" or "TCP", from the port's name or appProtocol, as Istio guesses


@dataclass(frozen=True)
class Service:
    host: str
    namespace: str
    name: str
    cluster_ip: str
    ports: tuple[ServicePort, ...]

    def port(self, number: int | None) -> ServicePort | None:
        if number is None:
            return self.ports[0] if len(self.ports) == 1 else None
        return next((p for p in self.ports if p.port == number), None)


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port_name: str
    port: int
    labels: dict[str, str]


@dataclass
class MeshModel:
    """The inputs of one push; mutated by the watches, read by the builders."""

    services: dict[str, Service] = field(default_factory=dict)  # by host
    _endpoints: dict[tuple[str, str], Obj] = field(default_factory=dict)
    _pods: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # ip -> labels
    _rules: dict[tuple[str, str, str], Obj] = field(default_factory=dict)  # (kind, ns, name)

    # -- inputs -------------------------------------------------------------

    def set_service(self, obj: Obj) -> None:
        meta, spec = obj["metadata"], obj.get("spec", {})
        namespace = meta.get("namespace", "default")
        host = fqdn(meta["name"], namespace)
        ports = tuple(
            ServicePort(p.get("name", ""), int(p["port"]), _protocol(p))
            for p in spec.get("ports") or []
            if p.get("protocol", "TCP") == "TCP"
        )
        self.services[host] = Service(
            host, namespace, meta["name"], spec.get("clusterIP") or "", ports
        )

    def delete_service(self, namespace: str, name: str) -> None:
        self.services.pop(fqdn(name, namespace), None)

    def set_endpoints(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self._endpoints[(meta.get("namespace", "default"), meta["name"])] = obj

    def delete_endpoints(self, namespace: str, name: str) -> None:
        self._endpoints.pop((namespace, name), None)

    def set_pod(self, obj: Obj) -> None:
        ip = obj.get("status", {}).get("podIP")
        if ip:
            self._pods[(obj["metadata"].get("namespace", "default"), ip)] = dict(
                obj["metadata"].get("labels") or {}
            )

    def delete_pod(self, obj: Obj) -> None:
        ip = obj.get("status", {}).get("podIP")
        self._pods.pop((obj["metadata"].get("namespace", "default"), ip or ""), None)

    def set_rule(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self._rules[(obj["kind"], meta.get("namespace", "default"), meta["name"])] = obj

    def delete_rule(self, kind: str, namespace: str, name: str) -> None:
        self._rules.pop((kind, namespace, name), None)

    def clear(self, kind: str) -> None:
        """Forget every object of ``kind`` (before a fresh listing replaces them)."""
        if kind == "Service":
            self.services.clear()
        elif kind == "Endpoints":
            self._endpoints.clear()
        elif kind == "Pod":
            self._pods.clear()
        else:
            self._rules = {key: rule for key, rule in self._rules.items() if key[0] != kind}

    # -- queries ------------------------------------------------------------

    def endpoints(self, service: Service) -> list[Endpoint]:
        """Ready addresses of ``service`` with the labels of their pods."""
        obj = self._endpoints.get((service.namespace, service.name)) or {}
        found = []
        for subset in obj.get("subsets") or []:
            for address in subset.get("addresses") or []:
                labels = self._pods.get((service.namespace, address["ip"]), {})
                for port in subset.get("ports") or []:
                    found.append(
                        Endpoint(address["ip"], port.get("name", ""), int(port["port"]), labels)
                    )
        return found

    def rules(self, kind: str) -> Iterator[Obj]:
        """Rules of ``kind``, oldest first: Istio merges by creation time."""
        chosen = [rule for (k, _, _), rule in self._rules.items() if k == kind]
        yield from sorted(
            chosen,
            key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]),
        )

    def virtual_service(self, host: str) -> Obj | None:
        for rule in self.rules("VirtualService"):
            namespace = rule["metadata"].get("namespace", "default")
            if "mesh" not in (rule.get("spec", {}).get("gateways") or ["mesh"]):
                continue  # bound to gateways only, not to the sidecars
            hosts = rule.get("spec", {}).get("hosts") or []
            if any(fqdn(h, namespace) == host for h in hosts):
                return rule
        return None

    def pod_labels(self, namespace: str, ip: str) -> dict[str, str]:
        return dict(self._pods.get((namespace, ip), {}))

    def gateways_for(self, labels: dict[str, str]) -> list[Obj]:
        """The Gateways whose selector picks a proxy with ``labels``."""
        return [
            gateway
            for gateway in self.rules("Gateway")
            if (gateway.get("spec", {}).get("selector") or {}).items() <= labels.items()
            and gateway.get("spec", {}).get("selector")
        ]

    def virtual_services_for_gateway(self, gateway: Obj) -> list[Obj]:
        """VirtualServices bound to ``gateway`` (by ``name`` in its namespace or ``ns/name``)."""
        namespace = gateway["metadata"].get("namespace", "default")
        names = {f"{namespace}/{gateway['metadata']['name']}"}
        bound = []
        for rule in self.rules("VirtualService"):
            rule_namespace = rule["metadata"].get("namespace", "default")
            for name in rule.get("spec", {}).get("gateways") or []:
                qualified = name if "/" in name else f"{rule_namespace}/{name}"
                if qualified in names:
                    bound.append(rule)
                    break
        return bound

    def destination_rule(self, host: str) -> Obj | None:
        for rule in self.rules("DestinationRule"):
            namespace = rule["metadata"].get("namespace", "default")
            if fqdn(rule.get("spec", {}).get("host", ""), namespace) == host:
                return rule
        return None


def _protocol(port: Obj) -> str:
    """Istio's protocol selection: appProtocol, else the port name's prefix."""
    declared = (port.get("appProtocol") or port.get("name", "").split("-")[0]).lower()
    return "HTTP" if declared in ("http", "http2", "grpc", "grpc-web") else "TCP"
