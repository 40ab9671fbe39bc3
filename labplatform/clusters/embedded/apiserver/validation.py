"""The semantic checks the real API server makes, with its field paths and messages.

Types are :mod:`.schema`'s business; this module checks what a schema
cannot say: name syntax, labels, required fields with meaning (a container
needs an image), selectors that must match their template, and fields that
may not change after creation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from labplatform.clusters.embedded.apiserver.errors import Cause
from labplatform.clusters.embedded.apiserver.selectors import (
    label_selector_from_spec,
    validate_label_selector,
)

Obj = dict[str, Any]

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# Kinds whose names are DNS-1123 labels; the rest are subdomains.
LABEL_NAMED = frozenset({"Namespace", "Service"})
TOTAL_ANNOTATION_LIMIT = 256 * 1024


def _invalid(field: str, value: Any, message: str) -> Cause:
    shown = json.dumps(value) if isinstance(value, str) else value
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {message}", field)


def _required(field: str, message: str = "") -> Cause:
    return Cause("FieldValueRequired", f"Required value{': ' + message if message else ''}", field)


def validate_name(kind: str, name: str) -> list[Cause]:
    if kind in LABEL_NAMED:
        if len(name) > 63:
            return [_invalid("metadata.name", name, "must be no more than 63 characters")]
        if not _LABEL.match(name):
            return [_invalid("metadata.name", name, _LABEL_MSG)]
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        return [_invalid("metadata.name", name, _SUBDOMAIN_MSG)]
    return []


def _qualified_name(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    causes = []
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        causes.append(_invalid(field, key, "prefix part " + _SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not _QUALIFIED.match(name):
        causes.append(
            _invalid(
                field,
                key,
                "name part must consist of alphanumeric characters, '-', '_' or "
                "'.', and must start and end with an alphanumeric character (e.g. 'MyName',  "
                "or 'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            )
        )
    return causes


def validate_metadata(obj: Obj) -> list[Cause]:
    """Labels and annotations, as every kind's validation checks them."""
    meta = obj.get("metadata", {})
    causes: list[Cause] = []
    for key, value in (meta.get("labels") or {}).items():
        causes += _qualified_name(key, "metadata.labels")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                _invalid(
                    "metadata.labels",
                    value,
                    "a valid label must be an empty "
                    "string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character",
                )
            )
    annotations = meta.get("annotations") or {}
    for key in annotations:
        causes += _qualified_name(key.lower(), "metadata.annotations")
    size = sum(len(k) + len(str(v)) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_LIMIT:
        causes.append(
            Cause(
                "FieldValueTooLong",
                f"Too long: must have at most {TOTAL_ANNOTATION_LIMIT} bytes",
                "metadata.annotations",
            )
        )
    return causes


def _containers(spec: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append(_required(f"{path}.containers"))
    seen: set[str] = set()
    for field in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(field) or []):
            where = f"{path}.{field}[{index}]"
            name = container.get("name", "")
            if not name:
                causes.append(_required(f"{where}.name"))
            elif not _LABEL.match(name) or len(name) > 63:
                causes.append(_invalid(f"{where}.name", name, _LABEL_MSG))
            elif name in seen:
                causes.append(
                    Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{where}.name")
                )
            seen.add(name)
            if not container.get("image"):
                causes.append(_required(f"{where}.image"))
            for p_index, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort")
                if isinstance(number, int) and not 0 < number < 65536:
                    causes.append(
                        _invalid(
                            f"{where}.ports[{p_index}].containerPort",
                            number,
                            "must be between 1 and 65535, inclusive",
                        )
                    )
    return causes


def _pod(obj: Obj) -> list[Cause]:
    return _containers(obj.get("spec") or {}, "spec")


def _template(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    selector = spec.get("selector")
    if not selector:
        causes.append(_required("spec.selector"))
    else:
        selector_causes = validate_label_selector(selector, "spec.selector")
        if selector_causes:  # a selector that cannot be parsed matches nothing to check
            causes += selector_causes
            selector = None
    template = spec.get("template") or {}
    if not template and obj.get("kind") == "Deployment":
        causes.append(_required("spec.template"))
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and template:
        parsed = label_selector_from_spec(selector)
        if parsed.empty:
            causes.append(
                _invalid("spec.selector", selector, "empty selector is invalid for deployment")
            )
        elif not parsed.matches(labels):
            shown = (
                "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in labels.items()) + "}"
            )
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {shown}: `selector` does not match template `labels`",
                    "spec.template.metadata.labels",
                )
            )
    if template:
        causes += _containers(template.get("spec") or {}, "spec.template.spec")
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(_invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    return causes


def _service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    ports = spec.get("ports") or []
    if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(_required("spec.ports"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        where = f"spec.ports[{index}]"
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            causes.append(_required(f"{where}.name"))
        elif name in names:
            causes.append(
                Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{where}.name")
            )
        names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                _invalid(f"{where}.port", number, "must be between 1 and 65535, inclusive")
            )
    return causes


_CREATE_CHECKS: dict[str, Callable[[Obj], list[Cause]]] = {
    "Pod": _pod,
    "Deployment": _template,
    "ReplicaSet": _template,
    "Service": _service,
}


def validate_create(kind: str, obj: Obj) -> list[Cause]:
    check = _CREATE_CHECKS.get(kind)
    return validate_metadata(obj) + (check(obj) if check else [])


def _immutable(field: str, old: Any, new: Any) -> list[Cause]:
    if old == new:
        return []
    return [
        Cause("FieldValueInvalid", f"Invalid value: {json.dumps(new)}: field is immutable", field)
    ]


_POD_MUTABLE = ("image",)


def _pod_update(old: Obj, new: Obj) -> list[Cause]:
    """Pods may change only container images (and a few scheduling fields) in place."""

    def frozen(spec: Obj) -> Obj:
        spec = json.loads(json.dumps(spec))
        for field in ("containers", "initContainers"):
            for container in spec.get(field) or []:
                for key in _POD_MUTABLE:
                    container.pop(key, None)
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
            spec.pop(key, None)
        return spec

    if frozen(old.get("spec") or {}) != frozen(new.get("spec") or {}):
        return [
            Cause(
                "FieldValueForbidden",
                "Forbidden: pod updates may not change fields other "
                "than `spec.containers[*].image`,`spec.initContainers[*].image`,"
                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 "
                "if it was previously negative)",
                "spec",
            )
        ]
    return []


def _data_update(old: Obj, new: Obj) -> list[Cause]:
    causes: list[Cause] = []
    if old.get("immutable"):
        for field in ("data", "binaryData", "stringData"):
            if old.get(field) != new.get(field):
                causes.append(
                    Cause(
                        "FieldValueForbidden",
                        "Forbidden: field is immutable when `immutable` is set",
                        field,
                    )
                )
        if not new.get("immutable"):
            causes += _immutable("immutable", True, new.get("immutable"))
    if old.get("kind") == "Secret":
        causes += _immutable("type", old.get("type"), new.get("type"))
    return causes


_UPDATE_CHECKS: dict[str, Callable[[Obj, Obj], list[Cause]]] = {
    "Pod": _pod_update,
    "Deployment": lambda o, n: _immutable(
        "spec.selector", o["spec"].get("selector"), n.get("spec", {}).get("selector")
    ),
    "ReplicaSet": lambda o, n: _immutable(
        "spec.selector", o["spec"].get("selector"), n.get("spec", {}).get("selector")
    ),
    "Service": lambda o, n: _immutable(
        "spec.clusterIP", o["spec"].get("clusterIP"), n.get("spec", {}).get("clusterIP")
    ),
    "ConfigMap": _data_update,
    "Secret": _data_update,
}


def validate_update(kind: str, old: Obj, new: Obj) -> list[Cause]:
    causes = validate_create(kind, new)
    check = _UPDATE_CHECKS.get(kind)
    return causes + (check(old, new) if check else [])
