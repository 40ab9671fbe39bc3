"""The defaults the real API server fills in, so objects read back as they would there.

Tutorials show ``kubectl get -o yaml`` output with these fields, and
controllers and the node runtime rely on them (a port's protocol, a pod's
restart policy) without checking for their absence. Upstream they come from
three places, all reproduced here: the versioned types' defaulting functions
(``SetDefaults_*``), registry strategies (a Namespace's ``kubernetes``
finalizer) and, on creation only, admission plugins (a Pod's service
account, priority and not-ready/unreachable tolerations). A Service's cluster
IP is allocated elsewhere. Custom resources get the ``default`` values of
their CRD's schema (:func:`apply_schema_defaults`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

Obj = dict[str, Any]

_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
_FILE_MODE = 0o644
_NOT_READY_TOLERATIONS = tuple(
    {
        "key": f"node.kubernetes.io/{condition}",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    for condition in ("not-ready", "unreachable")
)


def _dicts(value: object) -> list[Obj]:
    """The objects of a list that may be absent or null."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _child(obj: Obj, key: str) -> Obj | None:
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def pull_policy(image: str) -> str:
    """``Always`` for an untagged (undigested) or ``latest`` image, else ``IfNotPresent``."""
    name, _, digest = image.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2] or ("" if digest else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


def _handler(handler: Obj | None) -> None:
    """A probe's or lifecycle hook's action: an HTTP GET defaults to ``/`` over HTTP."""
    if handler is not None and (http := _child(handler, "httpGet")) is not None:
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _container(container: Obj, host_network: bool) -> None:
    container.setdefault("imagePullPolicy", pull_policy(str(container.get("image", ""))))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in _dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
        if host_network:
            port.setdefault("hostPort", port.get("containerPort"))
    for name in ("readinessProbe", "livenessProbe", "startupProbe"):
        if (probe := _child(container, name)) is not None:
            for key, value in _PROBE_DEFAULTS.items():
                probe.setdefault(key, value)
            _handler(probe)
    lifecycle = _child(container, "lifecycle") or {}
    for hook in ("postStart", "preStop"):
        _handler(_child(lifecycle, hook))
    for var in _dicts(container.get("env")):
        if (field_ref := _child(_child(var, "valueFrom") or {}, "fieldRef")) is not None:
            field_ref.setdefault("apiVersion", "v1")


def _volume(volume: Obj) -> None:
    if set(volume) <= {"name"}:  # a volume naming no source is an emptyDir
        volume["emptyDir"] = {}
    for name in ("configMap", "secret", "downwardAPI", "projected"):
        if (source := _child(volume, name)) is not None:
            source.setdefault("defaultMode", _FILE_MODE)
    if (host_path := _child(volume, "hostPath")) is not None:
        host_path.setdefault("type", "")
    files = _dicts((_child(volume, "downwardAPI") or {}).get("items"))
    for projection in _dicts((_child(volume, "projected") or {}).get("sources")):
        if (token := _child(projection, "serviceAccountToken")) is not None:
            token.setdefault("expirationSeconds", 3600)
        files += _dicts((_child(projection, "downwardAPI") or {}).get("items"))
    for file in files:
        if (field_ref := _child(file, "fieldRef")) is not None:
            field_ref.setdefault("apiVersion", "v1")


def pod_spec_defaults(spec: Obj) -> None:
    """What every pod spec gets, a Pod's own or a template's (``SetDefaults_PodSpec``)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):  # the deprecated alias mirrors it on output
        spec["serviceAccount"] = spec["serviceAccountName"]
    for name in ("initContainers", "containers"):
        for container in _dicts(spec.get(name)):
            _container(container, bool(spec.get("hostNetwork")))
    for volume in _dicts(spec.get("volumes")):
        _volume(volume)


def _pod(pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    pod_spec_defaults(spec)
    spec.setdefault("enableServiceLinks", True)
    for name in ("initContainers", "containers"):
        for container in _dicts(spec.get(name)):
            resources = container["resources"]
            if limits := resources.get("limits"):  # requests default to limits, on Pods only
                resources["requests"] = {**limits, **(resources.get("requests") or {})}


def _pod_admission(spec: Obj) -> None:
    """What the ServiceAccount, Priority and DefaultTolerationSeconds plugins add to new Pods."""
    spec.setdefault("serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for default in _NOT_READY_TOLERATIONS:
        if not any(_tolerates(t, default) for t in _dicts(tolerations)):
            tolerations.append(dict(default))


def _tolerates(toleration: Obj, default: Obj) -> bool:
    """Whether ``toleration`` already covers a NoExecute taint (DefaultTolerationSeconds' test)."""
    key_matches = toleration.get("key") in (default["key"], None, "")
    effect_matches = toleration.get("effect") in ("NoExecute", None, "")
    return key_matches and effect_matches


def _replicated(obj: Obj) -> None:
    """Deployments and ReplicaSets: one replica, and pod defaults for the template."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    template = spec.setdefault("template", {})
    pod_spec_defaults(template.setdefault("spec", {}))


def _deployment(deployment: Obj) -> None:
    _replicated(deployment)
    spec = deployment["spec"]
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _service(service: Obj) -> None:
    spec = service.setdefault("spec", {})
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    kind = spec.setdefault("type", "ClusterIP")
    for port in _dicts(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.get("externalIPs")):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if kind == "ExternalName":
        return
    spec.setdefault("internalTrafficPolicy", "Cluster")
    headless_unselected = spec.get("clusterIP") == "None" and not spec.get("selector")
    spec.setdefault("ipFamilyPolicy", "RequireDualStack" if headless_unselected else "SingleStack")
    spec.setdefault("ipFamilies", ["IPv4"])  # a single-stack IPv4 cluster


def _namespace(namespace: Obj) -> None:
    name = namespace.setdefault("metadata", {}).get("name", "")
    labels = namespace["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = name
    namespace.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    namespace.setdefault("status", {}).setdefault("phase", "Active")


def _ports_protocol(ports: object, name_too: bool = False) -> None:
    for port in _dicts(ports):
        port.setdefault("protocol", "TCP")
        if name_too:
            port.setdefault("name", "")


def _endpoints(endpoints: Obj) -> None:
    for subset in _dicts(endpoints.get("subsets")):
        _ports_protocol(subset.get("ports"))


def _crd(crd: Obj) -> None:
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if kind := names.get("kind"):
        names.setdefault("singular", kind.lower())
        names.setdefault("listKind", f"{kind}List")
    spec.setdefault("conversion", {"strategy": "None"})


def _webhooks(configuration: Obj, mutating: bool) -> None:
    for webhook in _dicts(configuration.get("webhooks")):
        webhook.setdefault("failurePolicy", "Fail")
        webhook.setdefault("matchPolicy", "Equivalent")
        webhook.setdefault("namespaceSelector", {})
        webhook.setdefault("objectSelector", {})
        webhook.setdefault("timeoutSeconds", 10)
        if mutating:
            webhook.setdefault("reinvocationPolicy", "Never")
        for rule in _dicts(webhook.get("rules")):
            rule.setdefault("scope", "*")
        service = _child(_child(webhook, "clientConfig") or {}, "service")
        if service is not None:
            service.setdefault("port", 443)


def _secret(secret: Obj) -> None:
    secret.setdefault("type", "Opaque")


def _endpoint_slice(slice_: Obj) -> None:
    _ports_protocol(slice_.get("ports"), name_too=True)


_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replicated,
    "Service": _service,
    "Namespace": _namespace,
    "Secret": _secret,
    "Endpoints": _endpoints,
    "EndpointSlice": _endpoint_slice,
    "CustomResourceDefinition": _crd,
    "MutatingWebhookConfiguration": partial(_webhooks, mutating=True),
    "ValidatingWebhookConfiguration": partial(_webhooks, mutating=False),
}


def apply_defaults(kind: str, obj: Obj, *, creating: bool = True) -> None:
    """Fill in ``obj`` (in place) the way the real server defaults a built-in ``kind``.

    ``creating`` adds what admission plugins add to new Pods only: on an
    update a Pod keeps what it had, and dropping it is a forbidden change.
    """
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None:
        defaulter(obj)
    if creating and kind == "Pod":
        _pod_admission(obj["spec"])


def apply_schema_defaults(obj: object, schema: dict[str, Any]) -> None:
    """Fill in (in place) the ``default`` values a CRD's structural schema declares."""
    if isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in obj:
                apply_schema_defaults(item, items)
        return
    if not isinstance(obj, dict):
        return
    properties = schema.get("properties") or {}
    for key, child_schema in properties.items():
        if obj.get(key) is None and "default" in child_schema and not child_schema.get("nullable"):
            obj[key] = copy.deepcopy(child_schema["default"])
    extra = schema.get("additionalProperties")
    for key, value in obj.items():
        child_schema = properties.get(key, extra)
        if isinstance(child_schema, dict):
            apply_schema_defaults(value, child_schema)
