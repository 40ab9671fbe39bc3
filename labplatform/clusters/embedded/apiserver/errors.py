"""API errors as the real API server reports them: ``Status`` objects.

kubectl prints ``Error from server (<reason>): <message>`` from these, and
clients branch on ``reason`` and ``code``, so both must match what a real
server sends for the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One field-level problem, as in ``status.details.causes[]``.

    ``reason`` is Kubernetes' cause type, e.g. ``FieldValueRequired``,
    ``FieldValueInvalid``, ``FieldValueNotSupported``, ``FieldValueDuplicate``,
    ``FieldValueForbidden``, ``FieldValueTypeInvalid``, ``FieldValueTooLong``.
    ``field`` is a path such as ``spec.containers[0].image``.
    """

    reason: str
    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    """An error answered to the client as a ``Status``."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(kind: str, name: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    """``resource`` is the plural, optionally ``plural.group`` as kubectl shows it."""
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        404, "NotFound", f'{qualified} "{name}" not found', _details(resource, name, group)
    )


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified} "{name}" already exists',
        _details(resource, name, group),
    )


def conflict(resource: str, name: str, group: str = "", why: str = "") -> ApiError:
    qualified = f"{resource}.{group}" if group else resource
    why = why or (
        "the object has been modified; please apply your changes to the latest version"
        " and try again"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified} "{name}": {why}',
        _details(resource, name, group),
    )


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> ApiError:
    """422 Invalid, with the message format of Kubernetes' ``NewInvalid``."""
    qualified = f"{kind}.{group}" if group else kind
    parts = [f"{c.field}: {_cause_text(c)}" if c.field else _cause_text(c) for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(kind, name, group)
    details["causes"] = [c.to_dict() for c in causes]
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)


_CAUSE_PREFIX = {
    "FieldValueRequired": "Required value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
}


def _cause_text(cause: Cause) -> str:
    """Kubernetes prefixes a cause's message with its type, e.g. ``Required value``."""
    prefix = _CAUSE_PREFIX.get(cause.reason)
    if prefix is None or cause.message.startswith(prefix):
        return cause.message
    return f"{prefix}: {cause.message}" if cause.message else prefix


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include:"
        f' application/json, application/yaml; got "{content_type}"',
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def service_unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)
