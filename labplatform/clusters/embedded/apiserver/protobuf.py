"""Decoding the Kubernetes protobuf encoding of the built-in kinds kubectl sends.

Since client-go 1.31 the typed clients, which ``kubectl create namespace``,
``create configmap``, ``create deployment``, ``run`` and ``create token``
use, send built-in kinds as ``application/vnd.kubernetes.protobuf``: the
magic ``k8s\\0``, then a ``runtime.Unknown`` envelope (type meta, raw object
bytes). This module reads the protobuf wire format generically and names
the fields from a table of field numbers per message, covering the kinds and
fields those commands write; anything not in the table is refused with a
clear 415 rather than guessed at, so nothing is stored half-decoded.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from labplatform.clusters.embedded.apiserver import errors

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# A field is (json name, type); a type is a scalar name, a message name,
# "map:<value type>", and a leading "*" marks a repeated field.
Field = tuple[str, str]
MESSAGES: dict[str, dict[int, Field]] = {
    "Unknown": {
        1: ("typeMeta", "TypeMeta"),
        2: ("raw", "bytes"),
        3: ("contentEncoding", "string"),
        4: ("contentType", "string"),
    },
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "Time"),
        10: ("deletionGracePeriodSeconds", "int"),
        11: ("labels", "map:string"),
        12: ("annotations", "map:string"),
        13: ("ownerReferences", "*OwnerReference"),
        14: ("finalizers", "*string"),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "*string")},
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map:string"),
        3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map:bytes"),
        3: ("type", "string"),
        4: ("stringData", "map:string"),
        5: ("immutable", "bool"),
    },
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 4: ("automountServiceAccountToken", "bool")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {
        1: ("ports", "*ServicePort"),
        2: ("selector", "map:string"),
        3: ("clusterIP", "string"),
        4: ("type", "string"),
        5: ("externalIPs", "*string"),
        7: ("sessionAffinity", "string"),
        10: ("externalName", "string"),
        18: ("clusterIPs", "*string"),
    },
    "ServicePort": {
        1: ("name", "string"),
        2: ("protocol", "string"),
        3: ("port", "int"),
        4: ("targetPort", "IntOrString"),
        5: ("nodePort", "int"),
        6: ("appProtocol", "string"),
    },
    "IntOrString": {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")},
    "Pod": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {
        1: ("volumes", "*Volume"),
        2: ("containers", "*Container"),
        3: ("restartPolicy", "string"),
        4: ("terminationGracePeriodSeconds", "int"),
        6: ("dnsPolicy", "string"),
        7: ("nodeSelector", "map:string"),
        8: ("serviceAccountName", "string"),
        10: ("nodeName", "string"),
        16: ("hostname", "string"),
        17: ("subdomain", "string"),
        20: ("initContainers", "*Container"),
        21: ("automountServiceAccountToken", "bool"),
    },
    "Volume": {1: ("name", "string")},
    "Container": {
        1: ("name", "string"),
        2: ("image", "string"),
        3: ("command", "*string"),
        4: ("args", "*string"),
        5: ("workingDir", "string"),
        6: ("ports", "*ContainerPort"),
        7: ("env", "*EnvVar"),
        8: ("resources", "ResourceRequirements"),
        14: ("imagePullPolicy", "string"),
        16: ("stdin", "bool"),
        17: ("stdinOnce", "bool"),
        18: ("tty", "bool"),
    },
    "ContainerPort": {
        1: ("name", "string"),
        2: ("hostPort", "int"),
        3: ("containerPort", "int"),
        4: ("protocol", "string"),
    },
    "EnvVar": {1: ("name", "string"), 2: ("value", "string")},
    "ResourceRequirements": {1: ("limits", "map:Quantity"), 2: ("requests", "map:Quantity")},
    "Quantity": {1: ("string", "string")},
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec")},
    "DeploymentSpec": {
        1: ("replicas", "int"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
        4: ("strategy", "DeploymentStrategy"),
        5: ("minReadySeconds", "int"),
        6: ("revisionHistoryLimit", "int"),
        7: ("paused", "bool"),
        9: ("progressDeadlineSeconds", "int"),
    },
    "DeploymentStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdate")},
    "RollingUpdate": {1: ("maxUnavailable", "IntOrString"), 2: ("maxSurge", "IntOrString")},
    "LabelSelector": {
        1: ("matchLabels", "map:string"),
        2: ("matchExpressions", "*LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("values", "*string"),
    },
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "SelfSubjectAccessReview": {2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes"),
        2: ("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", "string"),
        2: ("verb", "string"),
        3: ("group", "string"),
        4: ("version", "string"),
        5: ("resource", "string"),
        6: ("subresource", "string"),
        7: ("name", "string"),
    },
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {
        1: ("audiences", "*string"),
        3: ("boundObjectRef", "BoundObjectReference"),
        4: ("expirationSeconds", "int"),
    },
    "BoundObjectReference": {
        1: ("kind", "string"),
        2: ("apiVersion", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
    },
    # kubectl create role / clusterrole / rolebinding / clusterrolebinding / quota
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "*PolicyRule")},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "*PolicyRule")},
    "PolicyRule": {
        1: ("verbs", "*string"),
        2: ("apiGroups", "*string"),
        3: ("resources", "*string"),
        4: ("resourceNames", "*string"),
        5: ("nonResourceURLs", "*string"),
    },
    "RoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "*Subject"),
        3: ("roleRef", "RoleRef"),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "*Subject"),
        3: ("roleRef", "RoleRef"),
    },
    "Subject": {
        1: ("kind", "string"),
        2: ("apiGroup", "string"),
        3: ("name", "string"),
        4: ("namespace", "string"),
    },
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    "ResourceQuota": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ResourceQuotaSpec")},
    "ResourceQuotaSpec": {1: ("hard", "map:Quantity"), 2: ("scopes", "*string")},
}
# Go marshals every non-pointer field, zero or not, and its JSON form omits
# the zero ones; pointer fields (these) are sent only when set, zero included.
POINTER_FIELDS = frozenset(
    {
        "replicas",
        "terminationGracePeriodSeconds",
        "automountServiceAccountToken",
        "immutable",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "expirationSeconds",
        "maxSurge",
        "maxUnavailable",
        "deletionGracePeriodSeconds",
        "controller",
        "blockOwnerDeletion",
        "intVal",
    }
)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of every field in a message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ValueError("truncated field")
            yield number, wire, int.from_bytes(data[pos : pos + size], "little")
            pos += size
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        return value.decode() if isinstance(value, bytes) else str(value)
    if kind == "bytes":
        return base64.b64encode(value).decode() if isinstance(value, bytes) else ""
    if kind == "bool":
        return bool(value)
    if kind == "int":
        number = int(value) if isinstance(value, int) else 0
        return number - (1 << 64) if number >= 1 << 63 else number
    return _message(kind, value if isinstance(value, bytes) else b"")


def _message(name: str, data: bytes) -> Any:
    table = MESSAGES[name]
    out: dict[str, Any] = {}
    for number, _wire, value in _fields(data):
        if number not in table:
            if _is_zero(value):
                continue  # a field this server does not model, sent empty
            raise errors.unsupported_media_type(
                f"{MEDIA_TYPE} ({name} field {number} is not understood by this server; "
                "send application/json)"
            )
        json_name, kind = table[number]
        if json_name not in POINTER_FIELDS and _is_empty(kind, value):
            continue
        if kind.startswith("map:"):
            entry = dict((n, v) for n, _w, v in _fields(value if isinstance(value, bytes) else b""))
            key = _scalar("string", entry.get(1, b""))
            out.setdefault(json_name, {})[key] = _scalar(kind[4:], entry.get(2, b""))
        elif kind.startswith("*"):
            out.setdefault(json_name, []).append(_scalar(kind[1:], value))
        else:
            out[json_name] = _scalar(kind, value)
    return _convert(name, out)


def _is_empty(kind: str, value: int | bytes) -> bool:
    """The zero value of a known field: what Go's JSON form would omit."""
    if kind.startswith(("map:", "*")):
        return False
    if kind in ("string", "bytes", "int", "bool"):
        return not value
    return _is_zero(value)


def _is_zero(value: int | bytes) -> bool:
    """A zero number, or bytes that are empty or a message of only zero fields."""
    if isinstance(value, int):
        return value == 0
    if not value:
        return True
    try:
        return all(_is_zero(v) for _n, _w, v in _fields(value))
    except ValueError:
        return False


def _convert(name: str, out: dict[str, Any]) -> Any:
    """Messages whose JSON form is not an object."""
    if name == "IntOrString":
        return out.get("strVal", "") if out.get("type") == 1 else out.get("intVal", 0)
    if name == "Quantity":
        return out.get("string", "")
    if name == "Time":
        from datetime import UTC, datetime

        return datetime.fromtimestamp(out.get("seconds", 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf body as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("protobuf body does not start with the k8s magic number")
    try:
        envelope = _message("Unknown", body[len(MAGIC) :])
        type_meta = envelope.get("typeMeta", {})
        kind = type_meta.get("kind", "")
        if kind not in MESSAGES:
            raise errors.unsupported_media_type(
                f"{MEDIA_TYPE} (kind {kind or 'unknown'}: send application/json)"
            )
        raw = base64.b64decode(envelope.get("raw", ""))
        obj = _message(kind, raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the protobuf body could not be decoded: {exc}") from None
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
