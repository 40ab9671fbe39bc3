"""``meshctl tls-check``: which mTLS mode applies between a client pod and the services it calls.

The answer is computed the way pilot computes it, from the same objects: the
server side from the PeerAuthentication levels that apply to each pod behind
a service port, the client side from the DestinationRule's ``tls`` or, with
none, from auto mTLS (mutual TLS to pods that have a sidecar and accept it).
A client that sends plaintext to a STRICT server, or mTLS to a DISABLE one,
is a CONFLICT: the calls will fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mesh_runtime.pilot.authn import applied_policies, peer_mode
from mesh_runtime.pilot.model import MeshModel, Workload
from mesh_runtime.pilot.watch import KINDS, apply

Obj = dict[str, Any]


@dataclass(frozen=True)
class Row:
    host: str
    port: int
    server: str  # the server modes found behind the port, e.g. "STRICT"
    client: str  # what the client sends: ISTIO_MUTUAL, DISABLE, SIMPLE... ("(auto)" if chosen)
    policies: str  # the PeerAuthentications that decided, namespace/name
    rule: str  # the DestinationRule that decided the client side, or "-"

    @property
    def status(self) -> str:
        plaintext = self.client.startswith("DISABLE")
        if ("STRICT" in self.server and plaintext) or (
            "DISABLE" in self.server and self.client.startswith("ISTIO_MUTUAL")
        ):
            return "CONFLICT"
        return "OK"


def model_of(objects: Iterable[Obj]) -> MeshModel:
    model = MeshModel()
    known = {kind.name for kind in KINDS}
    for obj in objects:
        if obj.get("kind") in known:
            apply(model, obj["kind"], "ADDED", obj)
    return model


def tls_check(model: MeshModel, client: Workload, host: str | None = None) -> list[Row]:
    """One row per service port the client can see (or only ``host``'s)."""
    view = model.for_proxy(client.namespace, client.labels)
    rows = []
    for service in sorted(view.services.values(), key=lambda s: s.host):
        if host and host not in (service.host, service.name,
                                 f"{service.name}.{service.namespace}"):  # fmt: skip
            continue
        endpoints = [e for e in view.endpoints(service) if e.workload is not None]
        rule = view.destination_rule(service.host)
        for port in service.ports:
            behind = [e for e in endpoints if e.port_name == port.name or len(service.ports) == 1]
            modes = sorted({peer_mode(view, e.workload, e.port) for e in behind if e.workload})
            decided = sorted({f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name']}"
                              for e in behind if e.workload
                              for p in applied_policies(view, e.workload)})  # fmt: skip
            tls = ((rule or {}).get("spec", {}).get("trafficPolicy") or {}).get("tls")
            if not client.sidecar:
                sends = "DISABLE (no sidecar)"
            elif tls:
                sends = str(tls.get("mode", "DISABLE"))
            elif any(e.workload and e.workload.sidecar for e in behind) and modes != ["DISABLE"]:
                sends = "ISTIO_MUTUAL (auto)"
            else:
                sends = "DISABLE (auto)"
            rows.append(Row(
                service.host, port.port, "|".join(modes) or "-", sends,
                ",".join(decided) or "-",
                f"{rule['metadata'].get('namespace', 'default')}/{rule['metadata']['name']}"
                if rule and tls and client.sidecar else "-",
            ))  # fmt: skip
    return rows
