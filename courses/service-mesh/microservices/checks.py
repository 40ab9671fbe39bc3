"""Checks that need more than YAML: what sa-feedback has stored."""

import json

from grader.context import CheckContext

FEEDBACK = "kubectl exec deploy/sleep -- curl -s -m 5 http://sa-feedback/feedback"


def feedback_stored(context: CheckContext) -> tuple[bool, str]:
    """Passes once sa-feedback lists at least one answer."""
    status, output = context.shell(FEEDBACK, 30)
    try:
        stored = json.loads(output)["feedback"]
    except (ValueError, KeyError, TypeError):
        return False, f"sa-feedback did not answer with its list (exit {status}): {output[-200:]}"
    if not stored:
        return False, "sa-feedback has no feedback yet"
    return True, f"sa-feedback holds {len(stored)} answer(s), the latest: {stored[0]['sentence']!r}"
