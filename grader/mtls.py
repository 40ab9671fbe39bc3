"""``check: mtls``: what a workload accepts, probed from outside the mesh.

::

    - check: mtls
      service: reviews             # a Service; its first ready endpoint is probed
      namespace: default
      port: 9080
      mode: STRICT                 # STRICT: plaintext refused; PERMISSIVE: plaintext answered
      identity: true               # its certificate names spiffe://cluster.local/ns/NS/sa/SA

The probe runs where the learner's shell runs, which has no sidecar: a
plaintext request from there is exactly what a client outside the mesh
sends, and ``openssl s_client`` shows the certificate the workload presents.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from grader.context import CheckContext
from grader.results import CheckResult
from grader.spec import CheckSpecError, Spec

SPIFFE = re.compile(r"URI:(spiffe://[^\s,]+)")


@dataclass(frozen=True)
class MtlsCheck:
    service: str
    port: int
    namespace: str = "default"
    mode: str = "STRICT"
    identity: bool = True
    message: str = ""
    hint: str = ""

    @classmethod
    def parse(cls, spec: Spec) -> MtlsCheck:
        mode = spec.text("mode", "STRICT").upper()
        if mode not in ("STRICT", "PERMISSIVE"):
            raise CheckSpecError("'mode' in an mtls check is STRICT or PERMISSIVE")
        check = cls(
            service=spec.text("service"),
            port=int(spec.number("port", 80)),
            namespace=spec.text("namespace", "default") or "default",
            mode=mode,
            identity=bool(spec.get("identity", True)),
            message=spec.message,
            hint=spec.hint,
        )
        return check

    @property
    def title(self) -> str:
        return self.message or f"{self.service} accepts {self.mode.lower()} mutual TLS"

    def run(self, context: CheckContext) -> CheckResult:
        endpoints = context.client.resources.get(api_version="v1", kind="Endpoints")
        try:
            found = endpoints.get(name=self.service, namespace=self.namespace).to_dict()
        except Exception:
            found = {}
        addresses = [a["ip"] for s in found.get("subsets") or [] for a in s.get("addresses") or []]
        if not addresses:
            return CheckResult(
                self.title, False, f"service {self.service} has no ready endpoint", self.hint
            )
        target = f"{addresses[0]}:{self.port}"
        plain = f"curl -s -m 5 -o /dev/null -w '%{{http_code}}' http://{target}/; echo \" $?\""
        _, output = context.shell(plain, 15)
        code = output.split()[0] if output.split() else "000"
        answered = code not in ("000", "")
        facts = [f"plaintext to {target}: " + (f"HTTP {code}" if answered else "refused")]
        failures = []
        if self.mode == "STRICT" and answered:
            failures.append(facts[0] + " (STRICT refuses plaintext)")
        if self.mode == "PERMISSIVE" and not answered:
            failures.append(facts[0] + " (PERMISSIVE answers plaintext)")
        if self.identity:
            probe = (
                f"openssl s_client -connect {shlex.quote(target)} -alpn istio </dev/null "
                "2>/dev/null | openssl x509 -noout -ext subjectAltName"
            )
            _, text = context.shell(probe, 15)
            ids = SPIFFE.findall(text)
            if ids:
                facts.append(f"it presents {ids[0]}")
            else:
                failures.append(f"no SPIFFE identity in the certificate at {target}")
        observed = "; ".join(failures or facts)
        return CheckResult(self.title, not failures, observed, self.hint if failures else "")
