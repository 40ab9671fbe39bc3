"""What pilot knows of the cluster: services, their endpoints, and the networking rules.

Everything is kept as the Kubernetes objects came (plain dicts), indexed the
way the builders ask: a Service by its fully qualified host name, its ready
endpoints with the labels of the pods behind them (subsets select on those),
and the VirtualServices and DestinationRules by the hosts they name, with
short names resolved in the rule's own namespace as Istio does. Each host of
a ServiceEntry is a service too, so routing rules treat the two alike; a
Sidecar resource narrows the services one proxy sees (:meth:`MeshModel.for_proxy`).
"""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

Obj = dict[str, Any]
DOMAIN = "cluster.local"


def selector(policy: Obj) -> dict[str, str]:
    """The labels a policy's ``spec.selector.matchLabels`` asks for (empty: every workload)."""
    return dict(((policy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})


def guards(policy: Obj, namespace: str, labels: dict[str, str]) -> bool:
    """Does a namespaced policy apply to a workload: in its namespace, picked by its selector?"""
    in_namespace = policy["metadata"].get("namespace", "default") == namespace
    return in_namespace and selector(policy).items() <= labels.items()


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
    target_port: int = 0  # a ServiceEntry's targetPort (0: the port itself)


@dataclass(frozen=True)
class Service:
    host: str
    namespace: str
    name: str
    addresses: tuple[str, ...]  # the cluster IP, or a ServiceEntry's addresses
    ports: tuple[ServicePort, ...]
    # "EDS" for a Kubernetes Service; a ServiceEntry's resolution: STATIC, DNS or NONE.
    resolution: str = "EDS"
    entry: Obj | None = field(default=None, compare=False)  # the ServiceEntry behind it

    @property
    def kubernetes(self) -> bool:
        return self.entry is None

    def port(self, number: int | None) -> ServicePort | None:
        if number is None:
            return self.ports[0] if len(self.ports) == 1 else None
        return next((p for p in self.ports if p.port == number), None)


@dataclass(frozen=True)
class Workload:
    """A pod as the mesh sees it: its labels and its identity."""

    namespace: str
    labels: dict[str, str]
    account: str = "default"  # service account

    @property
    def sidecar(self) -> bool:
        """Injected: it speaks Istio mTLS (the injector's label, which auto mTLS reads too)."""
        return self.labels.get(TLS_MODE_LABEL) == "istio"


TLS_MODE_LABEL = "security.istio.io/tlsMode"


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port_name: str
    port: int
    labels: dict[str, str]
    workload: Workload | None = None  # None for a ServiceEntry's endpoints


@dataclass
class MeshModel:
    """The inputs of one push; mutated by the watches, read by the builders."""

    services: dict[str, Service] = field(default_factory=dict)  # by host
    _entry_hosts: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _endpoints: dict[tuple[str, str], Obj] = field(default_factory=dict)
    _pods: dict[tuple[str, str], Workload] = field(default_factory=dict)  # (ns, ip)
    _rules: dict[tuple[str, str, str], Obj] = field(default_factory=dict)  # (kind, ns, name)
    _credentials: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

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
        cluster_ip = spec.get("clusterIP") or ""
        self.services[host] = Service(
            host, namespace, meta["name"], (cluster_ip,) if cluster_ip else (), ports
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
            namespace = obj["metadata"].get("namespace", "default")
            self._pods[(namespace, ip)] = Workload(
                namespace,
                dict(obj["metadata"].get("labels") or {}),
                obj.get("spec", {}).get("serviceAccountName") or "default",
            )

    def delete_pod(self, obj: Obj) -> None:
        ip = obj.get("status", {}).get("podIP")
        self._pods.pop((obj["metadata"].get("namespace", "default"), ip or ""), None)

    def set_secret(self, obj: Obj) -> None:
        """Keep a Secret only if it holds a TLS credential (a gateway's ``credentialName``)."""
        meta = obj["metadata"]
        key = (meta.get("namespace", "default"), meta["name"])
        data = {k: base64.b64decode(v).decode(errors="replace")
                for k, v in (obj.get("data") or {}).items()}  # fmt: skip
        if ("tls.crt" in data and "tls.key" in data) or ("cert" in data and "key" in data):
            self._credentials[key] = data
        else:
            self._credentials.pop(key, None)

    def delete_secret(self, namespace: str, name: str) -> None:
        self._credentials.pop((namespace, name), None)

    def credential(self, namespace: str, name: str) -> dict[str, str] | None:
        """PEM ``cert``, ``key`` and, when present, ``cacert`` of a TLS Secret."""
        data = self._credentials.get((namespace, name))
        if data is None:
            return None
        found = {
            "cert": data.get("tls.crt") or data["cert"],
            "key": data.get("tls.key") or data["key"],
        }
        cacert = data.get("ca.crt") or data.get("cacert")
        return found | ({"cacert": cacert} if cacert else {})

    def set_rule(self, obj: Obj) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "default")
        self._rules[(obj["kind"], namespace, meta["name"])] = obj
        if obj["kind"] == "ServiceEntry":
            self._set_entry(namespace, meta["name"], obj)

    def delete_rule(self, kind: str, namespace: str, name: str) -> None:
        self._rules.pop((kind, namespace, name), None)
        if kind == "ServiceEntry":
            self._set_entry(namespace, name, None)

    def _set_entry(self, namespace: str, name: str, entry: Obj | None) -> None:
        """A ServiceEntry's hosts become services (or stop being ones)."""
        for host in self._entry_hosts.pop((namespace, name), []):
            self.services.pop(host, None)
        if entry is None:
            return
        spec = entry.get("spec", {})
        ports = tuple(
            ServicePort(
                p.get("name", ""),
                int(p["number"]),
                _protocol({"appProtocol": p.get("protocol", "")}),
                int(p.get("targetPort") or 0),
            )
            for p in spec.get("ports") or []
        )
        hosts = [fqdn(host, namespace) for host in spec.get("hosts") or []]
        for host in hosts:
            self.services[host] = Service(
                host, namespace, host, tuple(spec.get("addresses") or ()), ports,
                spec.get("resolution", "NONE"), entry,
            )  # fmt: skip
        self._entry_hosts[(namespace, name)] = hosts

    def clear(self, kind: str) -> None:
        """Forget every object of ``kind`` (before a fresh listing replaces them)."""
        if kind == "Service":
            self.services.clear()
        elif kind == "Endpoints":
            self._endpoints.clear()
        elif kind == "Pod":
            self._pods.clear()
        elif kind == "Secret":
            self._credentials.clear()
        else:
            if kind == "ServiceEntry":
                for namespace, name in list(self._entry_hosts):
                    self._set_entry(namespace, name, None)
            self._rules = {key: rule for key, rule in self._rules.items() if key[0] != kind}

    # -- queries ------------------------------------------------------------

    def endpoints(self, service: Service) -> list[Endpoint]:
        """Ready addresses of ``service`` with the labels of their pods (or of its entry)."""
        if service.entry is not None:
            return _entry_endpoints(service)
        obj = self._endpoints.get((service.namespace, service.name)) or {}
        found = []
        for subset in obj.get("subsets") or []:
            for address in subset.get("addresses") or []:
                workload = self._pods.get((service.namespace, address["ip"]))
                labels = workload.labels if workload else {}
                for port in subset.get("ports") or []:
                    found.append(Endpoint(address["ip"], port.get("name", ""), int(port["port"]),
                                          labels, workload))  # fmt: skip
        return found

    def inbound_ports(self, workload: Workload, ip: str) -> dict[int, str]:
        """The ports the services selecting this pod reach it on, with their protocol."""
        ports: dict[int, str] = {}
        for service in self.services.values():
            if service.namespace != workload.namespace or not service.kubernetes:
                continue
            by_name = {p.name: p for p in service.ports}
            for endpoint in self.endpoints(service):
                named = by_name.get(endpoint.port_name) or (
                    service.ports[0] if len(service.ports) == 1 else None
                )
                if endpoint.ip == ip and named is not None:
                    ports.setdefault(endpoint.port, named.protocol)
        return ports

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

    def policies(self, kind: str, workload: Workload) -> list[Obj]:
        """Security policies of ``kind`` that select ``workload``, oldest first: its namespace's
        (all, or those whose selector matches) and the root namespace's mesh-wide ones."""
        chosen = []
        for policy in self.rules(kind):
            where = policy["metadata"].get("namespace", "default")
            mesh_wide = where == ROOT_NAMESPACE and not selector(policy)
            if mesh_wide or guards(policy, workload.namespace, workload.labels):
                chosen.append(policy)
        return chosen

    def workload(self, namespace: str, ip: str) -> Workload:
        """The pod at ``ip`` (a workload without labels when pilot has not seen it)."""
        return self._pods.get((namespace, ip)) or Workload(namespace, {})

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

    def for_proxy(self, namespace: str, labels: dict[str, str]) -> MeshModel:
        """The model as one proxy sees it: only the services its Sidecar's egress names.

        Istio picks the Sidecar of the proxy's namespace whose workloadSelector
        matches it, else the namespace's one without a selector, else the one in
        the root namespace (istio-system); with none, every service is visible.
        """
        sidecar = self._sidecar(namespace, labels)
        if sidecar is None:
            return self
        patterns = [
            host
            for listener in sidecar.get("spec", {}).get("egress") or []
            for host in listener.get("hosts") or []
        ]
        visible = {
            host: service
            for host, service in self.services.items()
            if any(_egress_allows(pattern, service, namespace) for pattern in patterns)
        }
        return replace(self, services=visible)

    def _sidecar(self, namespace: str, labels: dict[str, str]) -> Obj | None:
        candidates = list(self.rules("Sidecar"))
        for wanted_namespace, selected in ((namespace, True), (namespace, False),
                                           (ROOT_NAMESPACE, False)):  # fmt: skip
            for sidecar in candidates:
                if sidecar["metadata"].get("namespace", "default") != wanted_namespace:
                    continue
                selector = (sidecar.get("spec", {}).get("workloadSelector") or {}).get("labels")
                if selected and selector and selector.items() <= labels.items():
                    return sidecar
                if not selected and not selector:
                    return sidecar
        return None


ROOT_NAMESPACE = "istio-system"


def _egress_allows(pattern: str, service: Service, proxy_namespace: str) -> bool:
    """Does an egress host (``ns/dnsName``: ``*/``, ``./`` and ``~/`` as Istio reads them) cover
    ``service``?"""
    namespace, _, name = pattern.partition("/")
    if namespace == "~" or (namespace == "." and service.namespace != proxy_namespace):
        return False
    if namespace not in ("*", ".") and namespace != service.namespace:
        return False
    return name == "*" or fnmatch.fnmatchcase(service.host, fqdn(name, service.namespace))


def _entry_endpoints(service: Service) -> list[Endpoint]:
    """A ServiceEntry's endpoints, one per port (``ports`` by name, else the target port)."""
    spec = (service.entry or {}).get("spec", {})
    return [
        Endpoint(
            str(endpoint.get("address", "")),
            port.name,
            int((endpoint.get("ports") or {}).get(port.name) or port.target_port or port.port),
            dict(endpoint.get("labels") or {}),
        )
        for endpoint in spec.get("endpoints") or []
        for port in service.ports
    ]


def _protocol(port: Obj) -> str:
    """Istio's protocol selection: appProtocol, else the port name's prefix."""
    declared = (port.get("appProtocol") or port.get("name", "").split("-")[0]).lower()
    return "HTTP" if declared in ("http", "http2", "grpc", "grpc-web") else "TCP"
