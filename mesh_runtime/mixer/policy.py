"""Policy: mixer answers every request's "may it pass?" from PolicyRules, as Istio 1.x's mixer did.

A ``PolicyRule`` (``mixer.labplatform.io/v1``) guards the workloads its
``selector`` picks in its namespace (all of them without one). When its
``match`` holds (source labels, principals, IPs, request headers; all that
are given), exactly one of these acts:

- ``deny``: refuse with ``status`` (default 403) and ``message`` (Istio's
  denier; its classic message is "Not allowed").
- ``allow``: a whitelist; a request from outside it is refused with 403 and
  "<source ip> is not whitelisted".
- ``quota``: at most ``max`` requests per ``window`` (``5s``) for each value
  of ``by`` (source.workload, source.ip, source.principal,
  request.headers.end-user; one shared budget without it), then 429
  (Istio's memquota).

The guarded proxies ask mixer over Envoy's ext_authz API before a request
reaches the app. ``failOpen`` (default true) says what they do when mixer
cannot be asked: let requests through, or refuse them (a rule set is fail
closed when any of its rules is).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from labkit.durations import parse_duration
from mesh_runtime.mixer.reports import NOBODY, Inventory, Workload
from mesh_runtime.pilot.model import guards

Obj = dict[str, Any]
GROUP, VERSION, PLURAL = "mixer.labplatform.io", "v1", "policyrules"


@dataclass(frozen=True)
class Request:
    """What a guarded proxy tells mixer about a request."""

    source_ip: str
    source_principal: str
    destination_ip: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    status: int = 200
    message: str = ""


ALLOWED = Verdict(True)


class PolicyEngine:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._rules: dict[tuple[str, str], Obj] = {}
        self._spent: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    def set_rule(self, rule: Obj) -> None:
        meta = rule["metadata"]
        with self._lock:
            self._rules[(meta.get("namespace", "default"), meta["name"])] = rule

    def delete_rule(self, rule: Obj) -> None:
        meta = rule["metadata"]
        with self._lock:
            self._rules.pop((meta.get("namespace", "default"), meta["name"]), None)
            self._spent = {k: v for k, v in self._spent.items() if k[:2] != (
                meta.get("namespace", "default"), meta["name"])}  # fmt: skip

    def check(self, request: Request, now: float | None = None) -> Verdict:
        destination = self.inventory.at(request.destination_ip)
        source = self.inventory.at(request.source_ip)
        with self._lock:
            rules = sorted(self._rules.items())
        for key, rule in rules:
            if not guards(rule, destination.namespace, destination.labels):
                continue
            spec = rule.get("spec") or {}
            if not _matches(spec.get("match") or {}, request, source):
                continue
            verdict = self._act(key, spec, request, source, now)
            if not verdict.allowed:
                return verdict
        return ALLOWED

    def _act(self, key: tuple[str, str], spec: Obj, request: Request, source: Workload,
             now: float | None) -> Verdict:  # fmt: skip
        if "deny" in spec:
            deny = spec["deny"] or {}
            return Verdict(False, int(deny.get("status", 403)), deny.get("message", "Not allowed"))
        if "allow" in spec:
            if _matches(spec["allow"] or {}, request, source):
                return ALLOWED
            return Verdict(False, 403, f"{request.source_ip} is not whitelisted")
        if "quota" in spec:
            return self._quota(key, spec["quota"], request, source, now)
        return ALLOWED

    def _quota(self, key: tuple[str, str], quota: Obj, request: Request, source: Workload,
               now: float | None) -> Verdict:  # fmt: skip
        now = time.monotonic() if now is None else now
        window = float(parse_duration(str(quota.get("window", "1s"))))
        dimensions = tuple(_dimension(d, request, source) for d in quota.get("by") or [])
        with self._lock:
            spent = self._spent.setdefault((*key, *dimensions), deque())
            while spent and spent[0] <= now - window:
                spent.popleft()
            if len(spent) >= int(quota.get("max", 0)):
                return Verdict(False, 429, f"quota exceeded: {quota.get('max')} per "
                                           f"{quota.get('window')}")  # fmt: skip
            spent.append(now)
        return ALLOWED

    def fail_open(self, workload: Workload) -> bool:
        with self._lock:
            rules = [r for r in self._rules.values()
                     if guards(r, workload.namespace, workload.labels)]  # fmt: skip
        return all((r.get("spec") or {}).get("failOpen", True) for r in rules)


def _matches(condition: Obj, request: Request, source: Workload) -> bool:
    labels = condition.get("sourceLabels") or {}
    if labels and (source is NOBODY or not labels.items() <= source.labels.items()):
        return False
    principals = condition.get("sourcePrincipals") or []
    if principals and request.source_principal.removeprefix("spiffe://") not in {
        p.removeprefix("spiffe://") for p in principals
    }:
        return False
    blocks = condition.get("sourceIPs") or []
    if blocks and not any(_in_block(request.source_ip, block) for block in blocks):
        return False
    headers = condition.get("headers") or {}
    return all(request.headers.get(name.lower()) == value for name, value in headers.items())


def _in_block(ip: str, block: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False


def _dimension(name: str, request: Request, source: Workload) -> str:
    if name == "source.workload":
        return f"{source.namespace}/{source.name}"
    if name == "source.ip":
        return request.source_ip
    if name == "source.principal":
        return request.source_principal
    if name == "request.headers.end-user":
        return request.headers.get("end-user", "")
    return ""
