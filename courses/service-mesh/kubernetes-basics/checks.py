"""The rollout step's check: what `kubectl rollout undo` leaves behind."""

from grader.context import CheckContext


def rolled_back(context: CheckContext) -> tuple[bool, str]:
    """Passes when hello is at its third revision or later without GREETING: a change, undone."""
    deployments = context.client.resources.get(api_version="apps/v1", kind="Deployment")
    hello = deployments.get(name="hello", namespace="default").to_dict()
    annotations = hello["metadata"].get("annotations") or {}
    revision = int(annotations.get("deployment.kubernetes.io/revision", "1"))
    env = hello["spec"]["template"]["spec"]["containers"][0].get("env") or []
    greeting = [e for e in env if e["name"] == "GREETING"]
    if greeting:
        return False, f"revision {revision} still sets GREETING={greeting[0].get('value')}"
    if revision < 3:
        return False, f"hello is at revision {revision}: roll a change out, then undo it"
    return True, f"revision {revision}, without GREETING"
