"""Every kind of declarative check, and reading one from a step's front matter.

A step lists its checks in front matter; each names its kind with
``check:`` and the rest is that kind's (see each module's docstring):

- ``resource`` (:mod:`grader.resource`): an object exists, with field values.
- ``workload`` (:mod:`grader.workload`): a Deployment's pods ready, with sidecars.
- ``traffic`` (:mod:`grader.traffic`): requests through the mesh: version split,
  header routes, injected aborts and delays, timeouts, refused connections.
- ``mtls`` (:mod:`grader.mtls`): plaintext refused or answered, the SPIFFE identity.
- ``metric``, ``envoy_stat``, ``trace`` (:mod:`grader.telemetry`): what mixer and
  the proxies observed.
- ``python`` (:mod:`grader.python`): a function in the lab's folder.

Every check takes ``message`` (its name on the page) and ``hint`` (shown when
it fails). A Killercoda ``verify.sh`` is the other way to check a step
(:mod:`grader.verify`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from grader.context import CheckContext
from grader.mtls import MtlsCheck
from grader.python import PythonCheck
from grader.resource import ResourceCheck
from grader.results import CheckResult
from grader.spec import CheckSpecError, Spec
from grader.telemetry import EnvoyStatCheck, MetricCheck, TraceCheck
from grader.traffic import TrafficCheck
from grader.workload import WorkloadCheck


class Check(Protocol):
    @property
    def title(self) -> str: ...

    def run(self, context: CheckContext) -> CheckResult: ...


KINDS: dict[str, Callable[[Spec], Check]] = {
    "resource": ResourceCheck.parse,
    "workload": WorkloadCheck.parse,
    "traffic": TrafficCheck.parse,
    "mtls": MtlsCheck.parse,
    "metric": MetricCheck.parse,
    "envoy_stat": EnvoyStatCheck.parse,
    "trace": TraceCheck.parse,
    "python": PythonCheck.parse,
}


def parse_check(raw: Any) -> Check:
    """A check from its front-matter form; raises CheckSpecError naming the problem."""
    kind = raw.get("check") if isinstance(raw, dict) else None
    if kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise CheckSpecError(f"unknown check {kind!r}: the kinds are {known}")
    spec = Spec(raw, str(kind))
    check = KINDS[str(kind)](spec)
    spec.done()
    return check


__all__ = ["Check", "CheckSpecError", "parse_check"]
