"""Checks that need more than YAML: mirrored copies reaching v2."""

import json
import re
import time
from collections import Counter

from grader.context import CheckContext

REQUESTS = 20
BODY = '{"sentence": "Mirror, mirror"}'
SEND = (
    f"kubectl exec deploy/sleep -c sleep -- sh -c 'for i in $(seq {REQUESTS}); do "
    "curl -s -m 5 -X POST http://sa-web-app/sentiment -H content-type:application/json "
    f"-d \"$0\"; echo; done' '{BODY}'"
)
V2_ANALYSES = 'kubectl logs deploy/sa-logic-v2 -c sa-logic --tail=-1 | grep -c \'"msg": "analyse"\''


def _v2_analyses(context: CheckContext) -> int:
    _, output = context.shell(V2_ANALYSES, 30)
    found = re.search(r"\d+", output)
    return int(found.group()) if found else 0


def mirrored(context: CheckContext) -> tuple[bool, str]:
    """v1 answers all of a burst of requests, and v2's log grows by (nearly) as many."""
    before = _v2_analyses(context)
    _, output = context.shell(SEND, 60)
    versions: Counter[str] = Counter()
    for line in output.splitlines():
        try:
            versions[str(json.loads(line).get("version") or "no version")] += 1
        except (ValueError, AttributeError):
            continue
    answered = ", ".join(f"{n} from {v}" for v, n in sorted(versions.items())) or "no answers"
    if versions != Counter({"v1": REQUESTS}):
        return False, f"of {REQUESTS} requests: {answered} (every answer should come from v1)"
    copies = 0
    for _ in range(10):  # copies are sent without waiting: give the last ones a moment
        copies = _v2_analyses(context) - before
        if copies >= REQUESTS:
            break
        time.sleep(0.3)
    if copies < REQUESTS // 2:
        return False, f"v1 answered all {REQUESTS}, but v2 received {copies} copies"
    return True, f"v1 answered all {REQUESTS}; v2 received {copies} copies"
