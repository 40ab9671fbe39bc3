"""kube-proxy's job, in its iptables mode, for the node's network namespace.

Each ClusterIP Service port becomes a ``KUBE-SVC-*`` chain that picks one
ready endpoint at random (``statistic`` with probability 1/n, 1/(n-1)...)
and jumps to its ``KUBE-SEP-*`` chain, which DNATs to the endpoint. A pod
that reaches itself through its own Service is masqueraded (hairpin); no
other traffic is, and nothing is NATed anywhere but to a pod of this node.
A port with no ready endpoint is rejected at once, so clients see
"connection refused" instead of waiting out a timeout. Headless and
ExternalName Services get no rules (DNS answers for them).

Rules are applied as one ``iptables-restore --noflush`` per change, which
replaces our chains atomically and leaves everyone else's alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from labplatform.clusters.embedded.node.index import ServiceIndex

Obj = dict[str, Any]
MASQUERADE_MARK = "0x4000/0x4000"
HOOKS = {  # (table, built-in chain) -> our chain, jumped to first
    ("nat", "PREROUTING"): "KUBE-SERVICES",
    ("nat", "OUTPUT"): "KUBE-SERVICES",
    ("nat", "POSTROUTING"): "KUBE-POSTROUTING",
    ("filter", "INPUT"): "KUBE-SERVICES",
    ("filter", "FORWARD"): "KUBE-SERVICES",
    ("filter", "OUTPUT"): "KUBE-SERVICES",
}


class ProxyError(RuntimeError):
    """iptables refused the rules; the message carries what it said."""


@dataclass(frozen=True)
class _Port:
    namespace: str
    service: str
    name: str
    protocol: str
    cluster_ip: str
    port: int
    endpoints: tuple[tuple[str, int], ...]

    @property
    def comment(self) -> str:
        """What kube-proxy writes in each rule's comment, so `iptables-save` reads back."""
        return f"{self.namespace}/{self.service}" + (f":{self.name}" if self.name else "")


def _chain(prefix: str, *parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return f"{prefix}-{base64.b32encode(digest).decode()[:16]}"


def _ports(services: Iterable[Obj], endpoints: Iterable[Obj]) -> list[_Port]:
    ready: dict[tuple[str, str], list[Obj]] = {}
    for obj in endpoints:
        meta = obj["metadata"]
        ready[(meta.get("namespace", ""), meta["name"])] = obj.get("subsets") or []
    ports = []
    for service in services:
        meta, spec = service["metadata"], service.get("spec", {})
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        namespace = meta.get("namespace", "")
        subsets = ready.get((namespace, meta["name"]), [])
        for port in spec.get("ports") or []:
            protocol = port.get("protocol", "TCP")
            if protocol not in ("TCP", "UDP"):
                continue
            name = port.get("name", "")
            targets = sorted(
                (address["ip"], int(endpoint_port["port"]))
                for subset in subsets
                for endpoint_port in subset.get("ports") or []
                if endpoint_port.get("name", "") == name
                and endpoint_port.get("protocol", "TCP") == protocol
                for address in subset.get("addresses") or []
            )
            ports.append(
                _Port(
                    namespace, meta["name"], name, protocol, ip, int(port["port"]), tuple(targets)
                )
            )
    return ports


def proxy_rules(services: Iterable[Obj], endpoints: Iterable[Obj]) -> str:
    """The nat and filter tables' text for ``iptables-restore --noflush``."""
    nat = [":KUBE-SERVICES - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    nat_rules = [
        f"-A KUBE-MARK-MASQ -j MARK --set-xmark {MASQUERADE_MARK}",
        f"-A KUBE-POSTROUTING -m mark --mark {MASQUERADE_MARK} -j MASQUERADE",
    ]
    filter_chains = [":KUBE-SERVICES - [0:0]"]
    filter_rules = []
    for port in _ports(services, endpoints):
        proto = port.protocol.lower()
        match = f"-d {port.cluster_ip}/32 -p {proto} -m {proto} --dport {port.port}"
        comment = f'-m comment --comment "{port.comment}"'
        if not port.endpoints:
            # A TCP reset, not ICMP: the kernel rate-limits ICMP errors per host, so after
            # a few refusals a client would wait a second for each SYN's retry instead.
            reject = "tcp-reset" if proto == "tcp" else "icmp-port-unreachable"
            filter_rules.append(
                f"-A KUBE-SERVICES {match} {comment} -j REJECT --reject-with {reject}"
            )
            continue
        svc = _chain("KUBE-SVC", port.namespace, port.service, port.name, port.protocol)
        nat.append(f":{svc} - [0:0]")
        nat_rules.append(f"-A KUBE-SERVICES {match} {comment} -j {svc}")
        count = len(port.endpoints)
        for index, (ip, target) in enumerate(port.endpoints):
            sep = _chain("KUBE-SEP", port.namespace, port.service, port.name, ip, target)
            nat.append(f":{sep} - [0:0]")
            chance = (
                f"-m statistic --mode random --probability {1 / (count - index):.10f} "
                if index < count - 1
                else ""
            )
            nat_rules += [
                f"-A {svc} {comment} {chance}-j {sep}",
                f"-A {sep} -s {ip}/32 {comment} -j KUBE-MARK-MASQ",
                f"-A {sep} -p {proto} {comment} -m {proto} -j DNAT --to-destination {ip}:{target}",
            ]
    return "\n".join(
        ["*nat", *nat, *nat_rules, "COMMIT", "*filter", *filter_chains, *filter_rules, "COMMIT", ""]
    )


class ServiceProxy(ServiceIndex):
    """Keeps the node's iptables in step with Services and Endpoints."""

    def __init__(self, iptables: str = "iptables") -> None:
        super().__init__()
        self._iptables = iptables
        self._applied: str | None = None
        self._chains: set[str] = set()

    async def sync(self) -> None:
        """Apply the current rules atomically; nothing is run when nothing changed."""
        if self._applied is None:
            await self._hook()
        rules = proxy_rules(self._services.values(), self._endpoints.values())
        if rules == self._applied:
            return
        chains = {line[1:].split()[0] for line in rules.splitlines() if line.startswith(":")}
        stale = sorted(c for c in self._chains - chains if c.startswith(("KUBE-SVC-", "KUBE-SEP-")))
        if stale:  # flushed first, then deleted, in one transaction
            nat_end = rules.index("COMMIT")
            rules_with_cleanup = (
                rules[:nat_end]
                + "".join(f":{c} - [0:0]\n" for c in stale)
                + "".join(f"-X {c}\n" for c in stale)
                + rules[nat_end:]
            )
        else:
            rules_with_cleanup = rules
        await _run(f"{self._iptables}-restore", "--noflush", stdin=rules_with_cleanup)
        self._applied, self._chains = rules, chains

    async def cleanup(self) -> None:
        """Remove every rule and chain of ours (a clean stop)."""
        for (table, hook), chain in HOOKS.items():
            await _run(self._iptables, "-t", table, "-D", hook, "-j", chain, check=False)
        for table in ("nat", "filter"):
            listing = await _run(f"{self._iptables}-save", "-t", table) or ""
            ours = [
                line[1:].split()[0] for line in listing.splitlines() if line.startswith(":KUBE-")
            ]
            for chain in ours:
                await _run(self._iptables, "-t", table, "-F", chain, check=False)
            for chain in ours:
                await _run(self._iptables, "-t", table, "-X", chain, check=False)
        self._applied, self._chains = None, set()

    async def _hook(self) -> None:
        """Our chains first in the built-in ones, once (the restore itself never touches these)."""
        await _run(f"{self._iptables}-restore", "--noflush", stdin=proxy_rules([], []))
        for (table, hook), chain in HOOKS.items():
            present = await _run(self._iptables, "-t", table, "-C", hook, "-j", chain, check=False)
            if present is None:
                await _run(self._iptables, "-t", table, "-I", hook, "1", "-j", chain)


async def _run(*argv: str, stdin: str | None = None, check: bool = True) -> str | None:
    """The command's output; None when it failed and ``check`` is off."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        if check:
            raise ProxyError(f"{' '.join(argv[:3])}: {err.decode(errors='replace').strip()}")
        return None
    return out.decode()
