"""The semantic checks the real API server makes, with its field paths and messages.

Types and unknown fields are :mod:`.schema`'s business (they fail decoding,
before any of this runs). This module checks what a schema cannot say, the
way ``pkg/apis/*/validation`` does upstream: name syntax per kind, labels and
annotations, fields that must be present to mean anything (a container needs
an image), values from closed sets, selectors that must match their template,
and fields that may not change after creation. Each check returns causes in
upstream's order, so ``kubectl`` prints the same ``The Deployment "web" is
invalid: [...]`` a real cluster prints.

Objects arrive defaulted (:mod:`.defaults`), as upstream validates them.
Values in messages follow Kubernetes 1.34+ (JSON for maps and lists, e.g.
``Invalid value: {"app":"web"}``); the ``cmp`` diff a real server appends to
its "pod updates may not change fields" message is left out.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

from labplatform.clusters.embedded.apiserver.errors import ApiError, Cause
from labplatform.clusters.embedded.apiserver.names import (
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    max_len,
    regex_error,
)
from labplatform.clusters.embedded.apiserver.schema import (
    field_duplicate,
    field_forbidden,
    field_invalid,
    field_not_found,
    field_not_supported,
    field_required,
    field_too_long,
    field_too_many,
)
from labplatform.clusters.embedded.apiserver.selectors import (
    label_key_errors,
    label_selector_from_spec,
    label_value_errors,
    validate_label_selector,
)

Obj = dict[str, Any]
Rule = Callable[[str], list[str]]

# -- names -------------------------------------------------------------------------------

_PORT_NAME_CHARS = re.compile("[-a-z0-9]+")
_PERCENT_FMT = "[0-9]+%"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
MAX_INT32 = 2**31 - 1
TOTAL_ANNOTATION_LIMIT = 256 * 1024
MAX_SECRET_SIZE = 1024 * 1024
FIELD_IMMUTABLE = "field is immutable"


def path_segment(name: str) -> list[str]:
    """RBAC objects' names (``system:auth-delegator``): anything that fits in a URL path."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


_NAME_RULES: dict[str, Rule] = {
    "Namespace": dns1123_label,
    "Service": dns1035_label,
    **dict.fromkeys(("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"), path_segment),
}


def _invalid_each(path: str, value: object, problems: list[str]) -> list[Cause]:
    return [field_invalid(path, value, problem) for problem in problems]


def validate_name(kind: str, name: str) -> list[Cause]:
    """``metadata.name`` as ``kind`` requires it: a DNS-1035 label for Services, a DNS-1123
    label for Namespaces, a DNS-1123 subdomain for everything else."""
    if not name:
        return [field_required("metadata.name", "name or generateName is required")]
    return _invalid_each("metadata.name", name, _NAME_RULES.get(kind, dns1123_subdomain)(name))


# -- metadata ------------------------------------------------------------------------------


def _labels(labels: object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (labels or {}).items() if isinstance(labels, dict) else ():
        causes += _invalid_each(path, key, label_key_errors(key))
        causes += _invalid_each(path, value, label_value_errors(str(value)))
    return causes


def _annotations(annotations: object, path: str) -> list[Cause]:
    if not isinstance(annotations, dict):
        return []
    causes: list[Cause] = []
    for key in annotations:  # the qualified-name rule, case-insensitively
        causes += _invalid_each(path, key, label_key_errors(key.lower()))
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_LIMIT:
        causes.append(field_too_long(path, TOTAL_ANNOTATION_LIMIT))
    return causes


def _object_meta(kind: str, meta: Obj, with_name: bool) -> list[Cause]:
    rule = _NAME_RULES.get(kind, dns1123_subdomain)
    causes: list[Cause] = []
    if generate := meta.get("generateName"):  # a prefix: it may end in '-'
        masked = generate[:-1] + "a" if len(generate) > 1 and generate.endswith("-") else generate
        causes += _invalid_each("metadata.generateName", generate, rule(masked))
    if with_name:
        causes += validate_name(kind, meta.get("name") or "")
    if namespace := meta.get("namespace"):
        causes += _invalid_each("metadata.namespace", namespace, dns1123_label(namespace))
    return (
        causes
        + _labels(meta.get("labels"), "metadata.labels")
        + _annotations(meta.get("annotations"), "metadata.annotations")
    )


def validate_metadata(obj: Obj, kind: str = "") -> list[Cause]:
    """ObjectMeta checks every kind gets, except the name (see :func:`validate_name`)."""
    return _object_meta(kind, obj.get("metadata") or {}, with_name=False)


# -- shared field checks -----------------------------------------------------------------------


def _choice(value: object, path: str, allowed: Sequence[str]) -> list[Cause]:
    """A value from a closed set, listed in the order upstream's message lists it."""
    if not value:
        return [field_required(path)]
    return [] if value in allowed else [field_not_supported(path, value, allowed)]


def _optional_choice(value: object, path: str, allowed: Sequence[str]) -> list[Cause]:
    return [] if value is None else _choice(value, path, allowed)


def _non_negative(value: object, path: str) -> list[Cause]:
    if isinstance(value, int) and value < 0:
        return [field_invalid(path, value, "must be greater than or equal to 0")]
    return []


def _port_number(value: object, path: str) -> list[Cause]:
    if isinstance(value, int) and 1 <= value <= 65535:
        return []
    return [field_invalid(path, value, "must be between 1 and 65535, inclusive")]


def _port_name_errors(name: str) -> list[str]:
    """IANA service-name rules for named ports."""
    problems = max_len(name, 15)
    if not _PORT_NAME_CHARS.fullmatch(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def _port_or_name(value: object, path: str) -> list[Cause]:
    if isinstance(value, str):
        return _invalid_each(path, value, _port_name_errors(value))
    return _port_number(value, path)


def _immutable(old: object, new: object, path: str) -> list[Cause]:
    return [] if _same(old, new) else [field_invalid(path, new, FIELD_IMMUTABLE)]


def _same(old: object, new: object) -> bool:
    """Go's semantic equality: an absent map or list equals an empty one."""

    def norm(value: object) -> object:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if v not in (None, {}, [])}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    return norm(old or None) == norm(new or None)


def _at(index: int, path: str) -> str:
    return f"{path}[{index}]"


# -- pods -----------------------------------------------------------------------------------

_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_REQUIRED_SOURCE_FIELDS = {
    "hostPath": "path",
    "configMap": "name",
    "secret": "secretName",
    "persistentVolumeClaim": "claimName",
}
_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"


def _key_to_paths(items: object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, item in enumerate(items or []) if isinstance(items, list) else ():
        for key in ("key", "path"):
            if not item.get(key):
                causes.append(field_required(f"{_at(index, path)}.{key}"))
    return causes


def _volume_source(volume: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    # Everything in a volume but its name is a source; the second one given is refused.
    sources = [key for key, value in volume.items() if key != "name" and value is not None]
    causes += [
        field_forbidden(f"{path}.{extra}", "may not specify more than 1 volume type")
        for extra in sources[1:]
    ]
    if not sources:
        return [field_required(path, "must specify a volume type")]
    source_name = sources[0]
    source = volume[source_name]
    if (required := _REQUIRED_SOURCE_FIELDS.get(source_name)) and not source.get(required):
        causes.append(field_required(f"{path}.{source_name}.{required}"))
    mode = source.get("defaultMode")
    if isinstance(mode, int) and not 0 <= mode <= 0o777:
        causes.append(field_invalid(f"{path}.{source_name}.defaultMode", mode, _FILE_MODE))
    return causes + _key_to_paths(source.get("items"), f"{path}.{source_name}.items")


def _volumes(volumes: list[Obj], path: str) -> tuple[set[str], list[Cause]]:
    """The usable volume names (a volume with errors is not), and the errors."""
    names: set[str] = set()
    causes: list[Cause] = []
    for index, volume in enumerate(volumes):
        where = _at(index, path)
        name = volume.get("name") or ""
        problems = _volume_source(volume, where)
        if not name:
            problems.append(field_required(f"{where}.name"))
        else:
            problems += _invalid_each(f"{where}.name", name, dns1123_label(name))
        if name in names:
            problems.append(field_duplicate(f"{where}.name", name))
        if problems:
            causes += problems
        else:
            names.add(name)
    return names, causes


def _container_ports(ports: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        where = _at(index, path)
        if name := port.get("name"):
            if problems := _port_name_errors(name):
                causes += _invalid_each(f"{where}.name", name, problems)
            elif name in names:
                causes.append(field_duplicate(f"{where}.name", name))
            names.add(name)
        number = port.get("containerPort")
        causes += (
            [field_required(f"{where}.containerPort")]
            if not number
            else _port_number(number, f"{where}.containerPort")
        )
        if port.get("hostPort"):
            causes += _port_number(port["hostPort"], f"{where}.hostPort")
        causes += _choice(port.get("protocol"), f"{where}.protocol", _PROTOCOLS)
    return causes


def _env(env: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, var in enumerate(env):
        where = _at(index, path)
        name = var.get("name") or ""
        if not name:
            causes.append(field_required(f"{where}.name"))
            causes.append(
                field_invalid(f"{where}.name", name, "environment variable name must be non-empty")
            )
        elif any(not (" " <= char <= "~") or char == "=" for char in name):
            causes.append(
                field_invalid(
                    f"{where}.name",
                    name,
                    "a valid environment variable name must consist only of printable ASCII "
                    "characters other than '='",
                )
            )
        sources = [key for key, value in (var.get("valueFrom") or {}).items() if value is not None]
        if len(sources) > 1:
            detail = "may not have more than one field specified at a time"
            causes.append(field_invalid(f"{where}.valueFrom", "", detail))
        if sources and var.get("value"):
            detail = "may not be specified when `value` is not empty"
            causes.append(field_invalid(f"{where}.valueFrom", "", detail))
    return causes


def _volume_mounts(mounts: list[Obj], volumes: set[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    mount_paths: set[str] = set()
    for index, mount in enumerate(mounts):
        where = _at(index, path)
        name, mount_path = mount.get("name") or "", mount.get("mountPath") or ""
        if not name:
            causes.append(field_required(f"{where}.name"))
        if name not in volumes:
            causes.append(field_not_found(f"{where}.name", name))
        if not mount_path:
            causes.append(field_required(f"{where}.mountPath"))
        if mount_path in mount_paths:
            causes.append(field_invalid(f"{where}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
    return causes


def _probe(probe: object, path: str, single_success: bool) -> list[Cause]:
    if not isinstance(probe, dict):
        return []
    handlers = [name for name in _HANDLERS if probe.get(name) is not None]
    causes: list[Cause] = []
    if not handlers:
        causes.append(field_required(path, "must specify a handler type"))
    causes += [
        field_forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
        for extra in handlers[1:]
    ]
    for handler in handlers[:1]:
        action, where = probe[handler], f"{path}.{handler}"
        if handler == "exec":
            causes += [] if action.get("command") else [field_required(f"{where}.command")]
            continue
        causes += _port_or_name(action.get("port"), f"{where}.port")
        if handler == "httpGet":
            causes += _optional_choice(action.get("scheme"), f"{where}.scheme", ("HTTP", "HTTPS"))
    for key in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        causes += _non_negative(probe.get(key), f"{path}.{key}")
    if single_success and probe.get("successThreshold", 1) != 1:
        causes.append(
            field_invalid(f"{path}.successThreshold", probe["successThreshold"], "must be 1")
        )
    return causes


def _container(container: Obj, path: str, volumes: set[str]) -> list[Cause]:
    name = container.get("name") or ""
    causes = (
        _invalid_each(f"{path}.name", name, dns1123_label(name))
        if name
        else [field_required(f"{path}.name")]
    )
    if not container.get("image"):
        causes.append(field_required(f"{path}.image"))
    causes += _choice(
        container.get("terminationMessagePolicy"),
        f"{path}.terminationMessagePolicy",
        _MESSAGE_POLICIES,
    )
    causes += _container_ports(container.get("ports") or [], f"{path}.ports")
    causes += _env(container.get("env") or [], f"{path}.env")
    causes += _volume_mounts(container.get("volumeMounts") or [], volumes, f"{path}.volumeMounts")
    causes += _choice(container.get("imagePullPolicy"), f"{path}.imagePullPolicy", _PULL_POLICIES)
    causes += _probe(container.get("livenessProbe"), f"{path}.livenessProbe", True)
    causes += _probe(container.get("readinessProbe"), f"{path}.readinessProbe", False)
    causes += _probe(container.get("startupProbe"), f"{path}.startupProbe", True)
    return causes


def _pod_spec(spec: Obj, path: str) -> list[Cause]:
    volumes, causes = _volumes(spec.get("volumes") or [], f"{path}.volumes")
    containers = spec.get("containers") or []
    if not containers:
        causes.append(field_required(f"{path}.containers"))
    seen: set[str] = set()
    for field_name in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(field_name) or []):
            where = _at(index, f"{path}.{field_name}")
            causes += _container(container, where, volumes)
            name = container.get("name") or ""
            if name and name in seen:
                causes.append(field_duplicate(f"{where}.name", name))
            seen.add(name)
    causes += _choice(spec.get("restartPolicy"), f"{path}.restartPolicy", _RESTART_POLICIES)
    causes += _choice(spec.get("dnsPolicy"), f"{path}.dnsPolicy", _DNS_POLICIES)
    causes += _labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for key in ("serviceAccountName", "nodeName"):
        if value := spec.get(key):
            causes += _invalid_each(f"{path}.{key}", value, dns1123_subdomain(value))
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 1 <= deadline <= MAX_INT32:
        causes.append(
            field_invalid(
                f"{path}.activeDeadlineSeconds",
                deadline,
                f"must be between 1 and {MAX_INT32}, inclusive",
            )
        )
    for key in ("hostname", "subdomain"):
        if value := spec.get(key):
            causes += _invalid_each(f"{path}.{key}", value, dns1123_label(value))
    return causes


def _pod(pod: Obj) -> list[Cause]:
    return _pod_spec(pod.get("spec") or {}, "spec")


def _pod_template(template: Obj, path: str) -> list[Cause]:
    meta = template.get("metadata") or {}
    return (
        _labels(meta.get("labels"), f"{path}.labels")
        + _annotations(meta.get("annotations"), f"{path}.annotations")
        + _pod_spec(template.get("spec") or {}, f"{path}.spec")
    )


# -- services and endpoints ---------------------------------------------------------------

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service(service: Obj) -> list[Cause]:
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    kind = spec.get("type")
    headless = spec.get("clusterIP") == "None"
    causes: list[Cause] = []
    if not ports and not headless and kind != "ExternalName":
        causes.append(field_required("spec.ports"))
    if kind == "ExternalName":
        if spec.get("clusterIP"):
            causes.append(
                field_forbidden("spec.clusterIPs", "may not be set for ExternalName services")
            )
        cname = (spec.get("externalName") or "").removesuffix(".")
        causes += (
            _invalid_each("spec.externalName", cname, dns1123_subdomain(cname))
            if cname
            else [field_required("spec.externalName")]
        )
    names: set[str] = set()
    for index, port in enumerate(ports):
        where = _at(index, "spec.ports")
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            causes.append(field_required(f"{where}.name"))
        elif name:
            causes += _invalid_each(f"{where}.name", name, dns1123_label(name))
            if name in names:
                causes.append(field_duplicate(f"{where}.name", name))
            names.add(name)
        causes += _port_number(port.get("port"), f"{where}.port")
        causes += _choice(port.get("protocol"), f"{where}.protocol", _PROTOCOLS)
        causes += _port_or_name(port.get("targetPort"), f"{where}.targetPort")
    causes += _labels(spec.get("selector"), "spec.selector")
    causes += _choice(spec.get("sessionAffinity"), "spec.sessionAffinity", ("ClientIP", "None"))
    causes += _choice(kind, "spec.type", _SERVICE_TYPES)
    if kind == "ClusterIP":
        causes += [
            field_forbidden(
                _at(index, "spec.ports") + ".nodePort", "may not be used when `type` is 'ClusterIP'"
            )
            for index, port in enumerate(ports)
            if port.get("nodePort")
        ]
    for key, allowed in (
        ("externalTrafficPolicy", ("Cluster", "Local")),
        ("internalTrafficPolicy", ("Cluster", "Local")),
        ("ipFamilyPolicy", ("PreferDualStack", "RequireDualStack", "SingleStack")),
    ):
        causes += _optional_choice(spec.get(key), f"spec.{key}", allowed)
    seen: set[tuple[object, object]] = set()
    for index, port in enumerate(ports):
        pair = (port.get("protocol"), port.get("port"))
        if pair in seen:
            duplicate = {"port": port.get("port"), "protocol": port.get("protocol")}
            causes.append(field_duplicate(_at(index, "spec.ports"), duplicate))
        seen.add(pair)
    return causes


def _endpoint_ports(ports: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, port in enumerate(ports):
        where = _at(index, path)
        if name := port.get("name"):
            causes += _invalid_each(f"{where}.name", name, dns1123_label(name))
        elif len(ports) > 1:
            causes.append(field_required(f"{where}.name"))
        causes += _port_number(port.get("port"), f"{where}.port")
        causes += _choice(port.get("protocol"), f"{where}.protocol", _PROTOCOLS)
    return causes


def _endpoints(endpoints: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for index, subset in enumerate(endpoints.get("subsets") or []):
        where = _at(index, "subsets")
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            causes.append(field_required(where, "must specify `addresses` or `notReadyAddresses`"))
        for key in ("addresses", "notReadyAddresses"):
            causes += [
                field_required(f"{_at(i, f'{where}.{key}')}.ip")
                for i, address in enumerate(subset.get(key) or [])
                if not address.get("ip")
            ]
        if not subset.get("ports"):
            causes.append(field_required(f"{where}.ports"))
        causes += _endpoint_ports(subset.get("ports") or [], f"{where}.ports")
    return causes


def _endpoint_slice(slice_: Obj) -> list[Cause]:
    causes = _choice(slice_.get("addressType"), "addressType", ("FQDN", "IPv4", "IPv6"))
    for index, endpoint in enumerate(slice_.get("endpoints") or []):
        addresses = endpoint.get("addresses") or []
        where = f"{_at(index, 'endpoints')}.addresses"
        if not addresses:
            causes.append(field_required(where, "must contain at least 1 address"))
        elif len(addresses) > 100:
            causes.append(field_too_many(where, len(addresses), 100))
    for index, port in enumerate(slice_.get("ports") or []):
        if port.get("port") is not None:
            causes += _port_number(port["port"], f"{_at(index, 'ports')}.port")
    return causes


# -- workloads ----------------------------------------------------------------------------


def _selector_template(spec: Obj) -> list[Cause]:
    """The selector, and the template it must select (Deployment and ReplicaSet alike)."""
    selector = spec.get("selector")
    causes: list[Cause] = []
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels")
    matched = False  # a missing selector selects nothing
    if selector is None:
        causes.append(field_required("spec.selector"))
    else:
        causes += validate_label_selector(selector, "spec.selector")
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            detail = "empty selector is invalid for deployment"
            causes.append(field_invalid("spec.selector", selector, detail))
        try:
            parsed = label_selector_from_spec(selector)
        except ApiError:
            return [*causes, field_invalid("spec.selector", selector, "invalid label selector")]
        matched = parsed.empty or parsed.matches(labels or {})
    if not matched:
        detail = "`selector` does not match template `labels`"
        causes.append(field_invalid("spec.template.metadata.labels", labels, detail))
    causes += _pod_template(template, "spec.template")
    template_spec = template.get("spec") or {}
    if (policy := template_spec.get("restartPolicy")) != "Always":
        causes.append(field_not_supported("spec.template.spec.restartPolicy", policy, ["Always"]))
    if (deadline := template_spec.get("activeDeadlineSeconds")) is not None:
        detail = "activeDeadlineSeconds in ReplicaSet is not Supported"
        causes.append(field_invalid("spec.template.spec.activeDeadlineSeconds", deadline, detail))
    return causes


def _percent_or_count(value: object, path: str) -> list[Cause]:
    if isinstance(value, str):
        if re.fullmatch(_PERCENT_FMT, value):
            return []
        message = "a valid percent string must be a numeric string followed by an ending '%'"
        return [_intstr_invalid(path, value, regex_error(message, _PERCENT_FMT, "1%", "93%"))]
    return _non_negative(value, path)


def _intstr_invalid(path: str, value: object, detail: str) -> Cause:
    """An IntOrString prints itself through its String method: unquoted."""
    return Cause("FieldValueInvalid", f"Invalid value: {value}: {detail}", path)


def _intstr_amount(value: object) -> int:
    if isinstance(value, str):
        return int(value[:-1]) if re.fullmatch(_PERCENT_FMT, value) else -1
    return value if isinstance(value, int) else -1


def _strategy(strategy: Obj) -> list[Cause]:
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            detail = "may not be specified when strategy `type` is 'Recreate'"
            return [field_forbidden("spec.strategy.rollingUpdate", detail)]
        return []
    if kind != "RollingUpdate":
        return [field_not_supported("spec.strategy", strategy, ["Recreate", "RollingUpdate"])]
    if rolling is None:
        return [
            field_required(
                "spec.strategy.rollingUpdate", "this should be defaulted and never be nil"
            )
        ]
    path = "spec.strategy.rollingUpdate"
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    causes = _percent_or_count(unavailable, f"{path}.maxUnavailable")
    causes += _percent_or_count(surge, f"{path}.maxSurge")
    if _intstr_amount(unavailable) == 0 and _intstr_amount(surge) == 0:
        causes.append(
            _intstr_invalid(
                f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"
            )
        )
    if isinstance(unavailable, str) and _intstr_amount(unavailable) > 100:
        causes.append(
            _intstr_invalid(f"{path}.maxUnavailable", unavailable, "must not be greater than 100%")
        )
    return causes


def _deployment(deployment: Obj) -> list[Cause]:
    spec = deployment.get("spec") or {}
    causes = _non_negative(spec.get("replicas"), "spec.replicas") + _selector_template(spec)
    causes += _strategy(spec.get("strategy") or {})
    causes += _non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    causes += _non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        causes += _non_negative(deadline, "spec.progressDeadlineSeconds")
        if deadline <= (spec.get("minReadySeconds") or 0):
            detail = "must be greater than minReadySeconds"
            causes.append(field_invalid("spec.progressDeadlineSeconds", deadline, detail))
    return causes


def _replica_set(replica_set: Obj) -> list[Cause]:
    spec = replica_set.get("spec") or {}
    return (
        _non_negative(spec.get("replicas"), "spec.replicas")
        + _non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        + _selector_template(spec)
    )


def _scale(scale: Obj) -> list[Cause]:
    return _non_negative((scale.get("spec") or {}).get("replicas"), "spec.replicas")


# -- configuration ----------------------------------------------------------------------------

# Keys a Secret of each type must carry; basic-auth needs either of its two.
_SECRET_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
}


def _config_key_errors(key: str) -> list[str]:
    message = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
    problems = max_len(key, 253)
    if not re.fullmatch(_CONFIG_KEY_FMT, key):
        problems.append(regex_error(message, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if key in (".", ".."):
        problems.append(f"must not be '{key}'")
    elif key.startswith(".."):
        problems.append("must not start with '..'")
    return problems


def _keys(data: object, path: str) -> list[Cause]:
    keys = data if isinstance(data, dict) else {}
    return [
        c for key in keys for c in _invalid_each(f"{path}[{key}]", key, _config_key_errors(key))
    ]


def _decoded_size(value: object) -> int:
    try:
        return len(base64.b64decode(str(value)))
    except (binascii.Error, ValueError):
        return len(str(value))


def _config_map(config_map: Obj) -> list[Cause]:
    data, binary = config_map.get("data") or {}, config_map.get("binaryData") or {}
    causes = _keys(data, "data")
    causes += [
        field_invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
        for key in data
        if key in binary
    ]
    causes += _keys(binary, "binaryData")
    size = sum(len(str(v).encode()) for v in data.values()) + sum(
        map(_decoded_size, binary.values())
    )
    return causes + ([field_too_long("", MAX_SECRET_SIZE)] if size > MAX_SECRET_SIZE else [])


def _secret(secret: Obj) -> list[Cause]:
    data = secret.get("data") or {}
    causes = _keys(data, "data")
    if sum(map(_decoded_size, data.values())) > MAX_SECRET_SIZE:
        causes.append(field_too_long("data", MAX_SECRET_SIZE))
    kind = secret.get("type")
    if kind == "kubernetes.io/service-account-token":
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(
                field_required("metadata.annotations[kubernetes.io/service-account.name]")
            )
    elif kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        causes += [field_required("data[username]"), field_required("data[password]")]
    elif kind == "kubernetes.io/ssh-auth":
        causes += [field_required(f"data[{k}]") for k in _SECRET_KEYS[kind] if not data.get(k)]
    else:
        causes += [
            field_required(f"data[{k}]") for k in _SECRET_KEYS.get(str(kind), ()) if k not in data
        ]
    return causes


# -- custom resource definitions --------------------------------------------------------------


def _mixed_case(value: str, path: str) -> list[Cause]:
    problems = dns1035_label(value.lower())
    if not problems:
        return []
    return [
        field_invalid(
            path, value, "may have mixed case, but should otherwise match: " + ",".join(problems)
        )
    ]


def _joined(path: str, value: str, rule: Rule) -> list[Cause]:
    problems = rule(value)
    return [field_invalid(path, value, ",".join(problems))] if problems else []


def _crd(crd: Obj) -> list[Cause]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group") or "", names.get("plural") or ""
    causes: list[Cause] = []
    name = (crd.get("metadata") or {}).get("name")
    if name != f"{plural}.{group}":
        causes.append(
            field_invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group')
        )
    if not group:
        causes.append(field_required("spec.group"))
    elif problems := dns1123_subdomain(group):
        causes.append(field_invalid("spec.group", group, ",".join(problems)))
    elif "." not in group:
        causes.append(
            field_invalid("spec.group", group, "should be a domain with at least one dot")
        )
    causes += _choice(spec.get("scope"), "spec.scope", ("Cluster", "Namespaced"))
    causes += _crd_versions(spec.get("versions") or [])
    for key in ("plural", "kind", "listKind"):
        if not names.get(key):
            causes.append(field_required(f"spec.names.{key}"))
    for key in ("plural", "singular"):
        if names.get(key):
            causes += _joined(f"spec.names.{key}", names[key], dns1035_label)
    for key in ("kind", "listKind"):
        if names.get(key):
            causes += _mixed_case(names[key], f"spec.names.{key}")
    for index, short in enumerate(names.get("shortNames") or []):
        causes += _joined(_at(index, "spec.names.shortNames"), short, dns1035_label)
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        causes.append(
            field_invalid(
                "spec.names.listKind", names["listKind"], "kind and listKind may not be the same"
            )
        )
    return causes


def _crd_versions(versions: list[Obj]) -> list[Cause]:
    causes: list[Cause] = []
    for index, version in enumerate(versions):
        where = _at(index, "spec.versions")
        causes += _joined(f"{where}.name", version.get("name") or "", dns1035_label)
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        path = f"{where}.schema.openAPIV3Schema"
        if not schema:
            causes.append(field_required(path, "schemas are required"))
        elif "type" not in schema:
            causes.append(field_required(f"{path}.type", "must not be empty at the root"))
        elif schema["type"] != "object":
            causes.append(
                field_invalid(f"{path}.type", schema["type"], "must be object at the root")
            )
    names = [v.get("name") for v in versions]
    if len(set(names)) != len(names):
        causes.append(field_invalid("spec.versions", versions, "must contain unique version names"))
    if sum(bool(v.get("storage")) for v in versions) != 1:
        causes.append(
            field_invalid(
                "spec.versions", versions, "must have exactly one version marked as storage version"
            )
        )
    return causes


# -- updates ---------------------------------------------------------------------------------

_POD_UPDATABLE = ",".join(
    (
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously"
        " negative)",
    )
)


def _pod_update(old: Obj, new: Obj) -> list[Cause]:
    """Pods change in place only in images, deadlines, added tolerations and gates removed."""
    old_spec, new_spec = old.get("spec") or {}, copy.deepcopy(new.get("spec") or {})
    causes: list[Cause] = []
    for key in ("containers", "initContainers"):
        before, after = old_spec.get(key) or [], new_spec.get(key) or []
        if len(before) != len(after):
            return [field_forbidden(f"spec.{key}", "pod updates may not add or remove containers")]
        for index, container in enumerate(after):
            image = container.get("image") or ""
            if image.strip() != image:
                detail = "must not have leading or trailing whitespace"
                causes.append(field_invalid(f"{_at(index, f'spec.{key}')}.image", image, detail))
            container["image"] = before[index].get("image")
    new_spec["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
    old_tolerations = old_spec.get("tolerations") or []
    if all(t in (new_spec.get("tolerations") or []) for t in old_tolerations):
        new_spec["tolerations"] = old_tolerations
    grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0 and new_spec.get("terminationGracePeriodSeconds") == 1:
        new_spec["terminationGracePeriodSeconds"] = grace
    if set(map(str, new_spec.get("schedulingGates") or [])) <= set(
        map(str, old_spec.get("schedulingGates") or [])
    ):
        new_spec["schedulingGates"] = old_spec.get("schedulingGates")
    if not _same(old_spec, new_spec):
        detail = f"pod updates may not change fields other than {_POD_UPDATABLE}"
        causes.append(field_forbidden("spec", detail))
    return causes


def _cluster_ips(spec: Obj) -> list[str]:
    """``clusterIPs`` with ``clusterIP`` as its first entry, as the server normalizes them."""
    ips = list(spec.get("clusterIPs") or [])
    if (ip := spec.get("clusterIP")) and ips[:1] != [ip]:
        ips = [ip, *ips[1:]]
    return ips


def _service_update(old: Obj, new: Obj) -> list[Cause]:
    """The cluster IP stays what was allocated (an omitted one means unchanged)."""
    before, after = old.get("spec") or {}, new.get("spec") or {}
    if "ExternalName" in (before.get("type"), after.get("type")):
        return []
    old_ips = _cluster_ips(before)
    new_ips = _cluster_ips(after) or old_ips
    if old_ips and new_ips[0] != old_ips[0]:
        return [field_invalid("spec.clusterIPs[0]", new_ips, "may not change once set")]
    return []


def _selector_update(old: Obj, new: Obj) -> list[Cause]:
    return _immutable(
        (old.get("spec") or {}).get("selector"),
        (new.get("spec") or {}).get("selector"),
        "spec.selector",
    )


def _data_update(old: Obj, new: Obj) -> list[Cause]:
    """ConfigMaps and Secrets marked immutable keep their data; a Secret keeps its type."""
    causes = (
        _immutable(old.get("type"), new.get("type"), "type") if old.get("kind") == "Secret" else []
    )
    if old.get("immutable"):
        detail = "field is immutable when `immutable` is set"
        if not new.get("immutable"):
            causes.append(field_forbidden("immutable", detail))
        for key in ("data", "binaryData"):
            if (old.get(key) or None) != (new.get(key) or None):
                causes.append(field_forbidden(key, detail))
    return causes


def _crd_update(old: Obj, new: Obj) -> list[Cause]:
    before, after = old.get("spec") or {}, new.get("spec") or {}
    return (
        _immutable(before.get("group"), after.get("group"), "spec.group")
        + _immutable(before.get("scope"), after.get("scope"), "spec.scope")
        + _immutable(
            (before.get("names") or {}).get("kind"),
            (after.get("names") or {}).get("kind"),
            "spec.names.kind",
        )
    )


def _meta_update(old: Obj, new: Obj) -> list[Cause]:
    before, after = old.get("metadata") or {}, new.get("metadata") or {}
    causes = [
        cause
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp")
        for cause in _immutable(before.get(key), after.get(key), f"metadata.{key}")
    ]
    return (
        causes
        + _labels(after.get("labels"), "metadata.labels")
        + _annotations(after.get("annotations"), "metadata.annotations")
    )


# -- entry points ---------------------------------------------------------------------------

_SPEC_CHECKS: dict[str, Callable[[Obj], list[Cause]]] = {
    "Pod": _pod,
    "Service": _service,
    "Endpoints": _endpoints,
    "EndpointSlice": _endpoint_slice,
    "ConfigMap": _config_map,
    "Secret": _secret,
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "Scale": _scale,
    "CustomResourceDefinition": _crd,
}
_UPDATE_CHECKS: dict[str, Callable[[Obj, Obj], list[Cause]]] = {
    "Pod": _pod_update,
    "Service": _service_update,
    "Deployment": _selector_update,
    "ReplicaSet": _selector_update,
    "ConfigMap": _data_update,
    "Secret": _data_update,
    "EndpointSlice": lambda old, new: _immutable(
        old.get("addressType"), new.get("addressType"), "addressType"
    ),
    "CustomResourceDefinition": _crd_update,
}


def _spec_checks(kind: str, obj: Obj) -> list[Cause]:
    check = _SPEC_CHECKS.get(kind)
    return check(obj) if check else []


def validate_create(kind: str, obj: Obj) -> list[Cause]:
    """Everything the real server checks when ``obj`` (defaulted) is created.

    Kinds without checks of their own (ServiceAccount, Namespace, custom
    resources) get the ObjectMeta checks every kind gets.
    """
    return _object_meta(kind, obj.get("metadata") or {}, with_name=True) + _spec_checks(kind, obj)


def validate_update(kind: str, old: Obj, new: Obj) -> list[Cause]:
    """What the real server checks when ``old`` is replaced by ``new`` (defaulted): the
    new object's content, and the fields that may not change."""
    check = _UPDATE_CHECKS.get(kind)
    return _meta_update(old, new) + _spec_checks(kind, new) + (check(old, new) if check else [])
