"""``check: traffic``: real requests through the mesh, and what came back.

::

    - check: traffic
      from: {deployment: sleep, namespace: default}   # a pod with a sidecar; or `from: node`
      url: http://reviews:9080/reviews/1
      method: GET                   # optional; POST with `body`
      headers: {end-user: jason}    # optional
      requests: 100                 # default 20
      timeout: 5s                   # per request
      version: {json: version}      # or {header: x-version}: how a reply names its version
      expect:
        split: {v1: 80, v2: 20}     # percentages, within a statistical tolerance
        version: v2                 # every reply from v2
        status: 500                 # every reply with this status ...
        ratio: 0.5                  # ... or this share of them (abort percentages)
        slower_than: 2s             # the median took at least this long (an injected delay)
        faster_than: 1s             # the 90th percentile took less (a timeout cut it short)
        refused: true               # no HTTP answer at all (connection refused or reset)

The requests leave from the pod the learner would use (``kubectl exec`` in
it), so its sidecar applies the learner's routing rules, as it would for
the app. Every failure says what was observed: the split in percent, the
statuses counted, the latencies measured.
"""

from __future__ import annotations

import json
import math
import shlex
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from grader.context import CheckContext
from grader.resource import field_value, missing
from grader.results import CheckResult
from grader.spec import CheckSpecError, Spec, seconds

MARK = "@@@grader"
# |z| above this for any version fails a split: a wrong split fails, a right one
# passes 999 times in 1000 (two-sided, normal approximation to the binomial).
Z_LIMIT = 3.29
EXPECTATIONS = {"split", "version", "status", "ratio", "slower_than", "faster_than", "refused"}


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no HTTP answer
    seconds: float
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class TrafficCheck:
    url: str
    source: str  # "node" or "namespace/deployment"
    container: str = ""
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    requests: int = 20
    timeout: float = 5.0
    version_json: str = ""
    version_header: str = ""
    expect: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    hint: str = ""

    @classmethod
    def parse(cls, spec: Spec) -> TrafficCheck:
        origin = spec.get("from", "node")
        if origin == "node":
            source, container = "node", ""
        elif isinstance(origin, dict) and isinstance(origin.get("deployment"), str):
            source = f"{origin.get('namespace', 'default')}/{origin['deployment']}"
            container = str(origin.get("container") or "")
        else:
            raise CheckSpecError("'from' in a traffic check is `node` or {deployment, namespace}")
        version = spec.mapping("version")
        expect = spec.mapping("expect")
        unknown = sorted(set(expect) - EXPECTATIONS)
        if unknown or not expect:
            raise CheckSpecError(
                f"'expect' in a traffic check takes {', '.join(sorted(EXPECTATIONS))}"
                + (f"; not {', '.join(unknown)}" if unknown else "")
            )
        if ("split" in expect or "version" in expect) and not version:
            raise CheckSpecError(
                "expecting versions needs 'version': {json: FIELD} or {header: NAME}"
            )
        if "split" in expect:
            split = expect["split"]
            adds_up = isinstance(split, dict) and abs(sum(map(float, split.values())) - 100) < 0.01
            if not adds_up:
                raise CheckSpecError("'expect.split' maps versions to percentages adding up to 100")
        for key in ("slower_than", "faster_than"):
            if key in expect:
                expect = {**expect, key: seconds(expect[key], f"'expect.{key}' in a traffic check")}
        requests = int(spec.number("requests", 20))
        if not 1 <= requests <= 1000:
            raise CheckSpecError("'requests' in a traffic check must be 1 to 1000")
        check = cls(
            url=spec.text("url"),
            source=source,
            container=container,
            method=spec.text("method", "GET").upper(),
            headers={str(k): str(v) for k, v in spec.mapping("headers").items()},
            body=spec.text("body", ""),
            requests=requests,
            timeout=spec.seconds("timeout", "5s"),
            version_json=str(version.get("json") or ""),
            version_header=str(version.get("header") or "").lower(),
            expect=dict(expect),
            message=spec.message,
            hint=spec.hint,
        )
        return check

    @property
    def title(self) -> str:
        return self.message or f"traffic to {self.url}"

    def script(self) -> str:
        """One shell loop sending every request with curl, each reply followed by a marker."""
        curl = ["curl", "-s", "-i", "-m", f"{self.timeout:g}", "-X", self.method]
        for name, value in self.headers.items():
            curl += ["-H", f"{name}: {value}"]
        if self.body:
            curl += ["--data-binary", self.body]
        curl += ["-w", f"\\n{MARK} %{{http_code}} %{{time_total}} ", self.url]
        loop = f"for i in $(seq {self.requests}); do {shlex.join(curl)}; echo $?; done"
        if self.source == "node":
            return loop
        namespace, deployment = self.source.split("/", 1)
        target = ["kubectl", "exec", "-n", namespace, f"deploy/{deployment}"]
        if self.container:
            target += ["-c", self.container]
        return shlex.join([*target, "--", "sh", "-c", loop])

    def run(self, context: CheckContext) -> CheckResult:
        budget = self.requests * (self.timeout + 1) + 30
        status, output = context.shell(self.script(), budget)
        replies = parse_replies(output)
        if not replies:
            tail = " / ".join(output.strip().splitlines()[-3:]) or f"exit status {status}"
            return CheckResult(self.title, False, f"no request could be sent: {tail}", self.hint)
        failures, facts = self.judge(replies)
        observed = "; ".join(failures or facts)
        return CheckResult(self.title, not failures, observed, "" if not failures else self.hint)

    def judge(self, replies: list[Reply]) -> tuple[list[str], list[str]]:
        """What went wrong (empty when it passed), and what was seen either way."""
        failures: list[str] = []
        facts: list[str] = []
        total = len(replies)
        codes = Counter(r.status for r in replies)
        counted = ", ".join(
            f"{count}×{code if code else 'no answer'}" for code, count in sorted(codes.items())
        )
        facts.append(f"{total} requests: {counted}")
        expect = self.expect
        versions = Counter(self.version_of(r) for r in replies if r.status)
        if "split" in expect:
            wanted = {str(k): float(v) for k, v in expect["split"].items()}
            seen = {name: 100 * versions.get(name, 0) / total for name in wanted}
            others = {n: 100 * c / total for n, c in versions.items() if n not in wanted}
            shown = ", ".join(f"{n} {p:.0f}%" for n, p in {**seen, **others}.items())
            fact = (
                f"observed {shown} of {total} requests (expected "
                + ", ".join(f"{n} {p:g}%" for n, p in wanted.items())
                + ")"
            )
            facts.append(fact)
            if not split_matches(wanted, versions, total):
                failures.append(fact)
        if "version" in expect:
            wanted_version = str(expect["version"])
            wrong = {n: c for n, c in versions.items() if n != wanted_version}
            if wrong or not versions:
                failures.append(
                    f"expected every reply from {wanted_version}, got "
                    + ", ".join(f"{c} from {n or 'no version'}" for n, c in versions.items())
                )
        if "status" in expect:
            code = int(expect["status"])
            share = codes.get(code, 0) / total
            wanted_share = float(expect.get("ratio", 1.0))
            fact = f"{100 * share:.0f}% answered {code} (expected {100 * wanted_share:g}%)"
            if not share_matches(wanted_share, codes.get(code, 0), total):
                failures.append(f"{fact}; {counted}")
            else:
                facts.append(fact)
        if expect.get("refused"):
            answered = sum(c for code, c in codes.items() if code)
            if answered:
                failures.append(f"{answered} of {total} requests got an HTTP answer ({counted})")
            else:
                facts.append("every request was refused before any HTTP answer")
        times = sorted(r.seconds for r in replies)
        median = statistics.median(times)
        p90 = times[max(0, math.ceil(0.9 * total) - 1)]
        timing = f"median {median:.2f} s, p90 {p90:.2f} s"
        if "slower_than" in expect:
            if median < float(expect["slower_than"]):
                failures.append(f"{timing}: expected at least {expect['slower_than']:g} s")
            else:
                facts.append(timing)
        if "faster_than" in expect:
            if p90 >= float(expect["faster_than"]):
                failures.append(f"{timing}: expected under {expect['faster_than']:g} s")
            else:
                facts.append(timing)
        return failures, facts

    def version_of(self, reply: Reply) -> str:
        if self.version_header:
            return reply.headers.get(self.version_header, "")
        if self.version_json:
            try:
                value = field_value(json.loads(reply.body), self.version_json)
            except ValueError:
                return ""
            return "" if missing(value) else str(value)
        return ""


def split_matches(wanted: dict[str, float], versions: Counter[str], total: int) -> bool:
    """Each version's count is within the binomial tolerance of its expected share."""
    for name, percent in wanted.items():
        if not share_matches(percent / 100, versions.get(name, 0), total):
            return False
    unexpected = sum(c for n, c in versions.items() if n not in wanted)
    return unexpected == 0


def share_matches(share: float, count: int, total: int) -> bool:
    """``count`` of ``total`` is consistent with a true share ``share`` (exact at 0 and 1)."""
    if share <= 0:
        return count == 0
    if share >= 1:
        return count == total
    deviation = (count - total * share) / math.sqrt(total * share * (1 - share))
    return abs(deviation) <= Z_LIMIT


def parse_replies(output: str) -> list[Reply]:
    """The replies in the probe's output: each one's head and body, then a marker line."""
    replies = []
    chunks = output.split(f"\n{MARK} ")
    head = chunks[0]
    for chunk in chunks[1:]:
        line, _, rest = chunk.partition("\n")
        parts = line.split()
        if len(parts) < 3:
            break
        code, took, exit_status = parts[0], parts[1], parts[2]
        headers, body = _split_response(head)
        status = int(code) if code.isdigit() and exit_status == "0" else 0
        replies.append(Reply(status, float(took), headers, body))
        head = rest
    return replies


def _split_response(text: str) -> tuple[dict[str, str], str]:
    """Headers of the last response in ``text`` (after any 100 Continue) and its body."""
    normalized = text.replace("\r\n", "\n")
    headers: dict[str, str] = {}
    body = normalized
    while body.startswith("HTTP/"):
        head, _, body = body.partition("\n\n")
        headers = {}
        for line in head.split("\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers, body
