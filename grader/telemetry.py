"""Checks on what the mesh observed: a metric in mixer, an Envoy statistic, a trace.

::

    - check: metric                # mixer's /metrics, in Prometheus form
      name: istio_requests_total
      labels: {destination_workload: reviews-v2, response_code: "200"}
      min: 1                       # the sum over matching series is at least this
    - check: envoy_stat            # a proxy's own statistics (port 15090)
      deployment: productpage-v1
      namespace: default
      stat: envoy_cluster_upstream_rq_retry
      labels: {cluster_name: "outbound|9080||reviews.default.svc.cluster.local"}
      min: 1
    - check: trace                 # one trace crossing these services
      services: [istio-ingressgateway, sa-web-app, sa-logic]

All three are read through the Kubernetes API's service and pod proxies,
as ``kubectl get --raw`` would, so they need no route into the cluster.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Self

from grader.context import CheckContext
from grader.results import CheckResult
from grader.spec import CheckSpecError, Spec
from grader.workload import deployment_pods

MIXER = "/api/v1/namespaces/istio-system/services/istio-mixer"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_sum(text: str, name: str, labels: dict[str, str]) -> tuple[float, int]:
    """The sum of ``name``'s samples whose labels include ``labels``, and how many matched."""
    total, matched = 0.0, 0
    for line in text.splitlines():
        sample = _SAMPLE.match(line)
        if sample is None or sample.group(1) != name:
            continue
        have = dict(_LABEL.findall(sample.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(sample.group(4))
            matched += 1
    return total, matched


@dataclass(frozen=True)
class _Counted:
    """A Prometheus text page, one metric in it, its labels, and the least sum that passes."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    least: float = 1
    message: str = ""
    hint: str = ""

    @property
    def title(self) -> str:
        shown = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return self.message or f"{self.name}{{{shown}}} is at least {self.least:g}"

    @classmethod
    def read(cls, spec: Spec, name_key: str, **more: str) -> Self:
        """The fields every counted check has, from ``spec``, and ``more`` of the kind's own."""
        return cls(
            name=spec.text(name_key),
            labels={str(k): str(v) for k, v in spec.mapping("labels").items()},
            least=spec.number("min", 1),
            message=spec.message,
            hint=spec.hint,
            **more,
        )

    def judge(self, text: str, where: str) -> CheckResult:
        total, matched = metric_sum(text, self.name, self.labels)
        seen = f"{self.name} sums to {total:g} over {matched} matching series in {where}"
        passed = total >= self.least
        return CheckResult(self.title, passed, seen, "" if passed else self.hint)


@dataclass(frozen=True)
class MetricCheck(_Counted):
    @classmethod
    def parse(cls, spec: Spec) -> MetricCheck:
        return cls.read(spec, "name")

    def run(self, context: CheckContext) -> CheckResult:
        return self.judge(context.api_get(f"{MIXER}:42422/proxy/metrics"), "mixer's metrics")


@dataclass(frozen=True)
class EnvoyStatCheck(_Counted):
    deployment: str = ""
    namespace: str = "default"

    @classmethod
    def parse(cls, spec: Spec) -> EnvoyStatCheck:
        return cls.read(
            spec,
            "stat",
            deployment=spec.text("deployment"),
            namespace=spec.text("namespace", "default") or "default",
        )

    def run(self, context: CheckContext) -> CheckResult:
        pods = deployment_pods(context, self.namespace, self.deployment) or []
        mine = [
            p["metadata"]["name"] for p in pods if (p.get("status") or {}).get("phase") == "Running"
        ]
        if not mine:
            return CheckResult(self.title, False, f"no running pod of {self.deployment}", self.hint)
        text = "\n".join(
            context.api_get(
                f"/api/v1/namespaces/{self.namespace}/pods/{name}:15090/proxy/stats/prometheus"
            )
            for name in mine
        )
        return self.judge(text, f"the proxies of {self.deployment}")


@dataclass(frozen=True)
class TraceCheck:
    services: tuple[str, ...]
    message: str = ""
    hint: str = ""

    @classmethod
    def parse(cls, spec: Spec) -> TraceCheck:
        services = spec.get("services")
        if not isinstance(services, list) or not services:
            raise CheckSpecError("a trace check needs 'services': a list of service names")
        check = cls(tuple(str(s) for s in services), spec.message, spec.hint)
        return check

    @property
    def title(self) -> str:
        return self.message or f"a trace crosses {', '.join(self.services)}"

    def run(self, context: CheckContext) -> CheckResult:
        traces = json.loads(context.api_get(f"{MIXER}:9411/proxy/api/v2/traces?limit=100"))
        closest: set[str] = set()
        most = -1
        for trace in traces:
            names = {
                str((span.get("localEndpoint") or {}).get("serviceName", "")).split(".")[0]
                for span in trace
            }
            crossed = {s for s in self.services if any(_serves(s, name) for name in names)}
            if len(crossed) == len(self.services):
                shown = ", ".join(sorted(names))
                return CheckResult(self.title, True, f"a trace of {len(trace)} spans: {shown}")
            if len(crossed) > most:
                closest, most = names, len(crossed)
        seen = (
            f"{len(traces)} traces; the closest crosses {', '.join(sorted(closest))}"
            if traces
            else "no trace yet"
        )
        return CheckResult(self.title, False, seen, self.hint)


def _serves(service: str, span_name: str) -> bool:
    """Spans are named by workload (sa-logic-v1): they count for their app (sa-logic)."""
    return span_name == service or span_name.startswith(f"{service}-")
