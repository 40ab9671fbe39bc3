"""Structural-schema checks: the OpenAPI v3 subset Kubernetes uses for types.

Custom resources are checked against their CRD's ``openAPIV3Schema``, with
Kubernetes' messages (``spec.hosts in body must be of type array``); built-in
kinds against :mod:`.builtin_schemas`, where a wrong type is the decoding
error a real server gives instead. The same schemas feed ``kubectl explain``.
"""

from __future__ import annotations

import re
from typing import Any

from labplatform.clusters.embedded.apiserver.errors import Cause

_JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    for name, kind in _JSON_TYPES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if expected is None:
        return True
    actual = json_type(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer" and actual == "number":
        return bool(float(value).is_integer())
    return bool(actual == expected)


def _quote(value: Any) -> str:
    return (
        f'"{value}"'
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


def validate_schema(obj: Any, schema: dict[str, Any], path: str = "") -> list[Cause]:
    """Every type, required, enum and bound violation of ``obj`` under ``schema``."""
    causes: list[Cause] = []
    _walk(obj, schema, path, causes)
    return causes


def _walk(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    field = path or "<root>"
    if value is None:
        if not schema.get("nullable") and schema.get("type") not in (None,):
            causes.append(
                Cause(
                    "FieldValueTypeInvalid",
                    f'Invalid value: "null": {field} in body '
                    f'must be of type {schema["type"]}: "null"',
                    field,
                )
            )
        return
    if not _type_ok(value, schema):
        actual = json_type(value)
        causes.append(
            Cause(
                "FieldValueTypeInvalid",
                f'Invalid value: "{actual}": {field} in body must be of type '
                f'{schema.get("type", "integer or string")}: "{actual}"',
                field,
            )
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(_quote(v) for v in schema["enum"])
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f"Unsupported value: {_quote(value)}: supported values: {allowed}",
                field,
            )
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {field} in body "
                    f"should be greater than or equal to {schema['minimum']}",
                    field,
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {field} in body "
                    f"should be less than or equal to {schema['maximum']}",
                    field,
                )
            )
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                Cause(
                    "FieldValueTooLong",
                    f"Too long: may not be more than {schema['maxLength']} bytes",
                    field,
                )
            )
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": {field} in body '
                    f"should match '{schema['pattern']}'",
                    field,
                )
            )
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {len(value)}: {field} in "
                    f"body should have at least {schema['minItems']} items",
                    field,
                )
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _walk(item, items, f"{path}[{index}]", causes)
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                child = f"{path}.{name}" if path else name
                causes.append(Cause("FieldValueRequired", "Required value", child))
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, child_value in value.items():
            child = f"{path}.{name}" if path else name
            if name in properties:
                _walk(child_value, properties[name], child, causes)
            elif isinstance(extra, dict):
                _walk(child_value, extra, child, causes)


def go_decode_error(kind: str, version: str, cause: Cause) -> str:
    """The decoding error a real server gives a built-in kind with a wrongly typed field."""
    match = re.search(r'must be of type ([\w ]+): "(\w+)"', cause.message)
    expected, actual = (match.group(1), match.group(2)) if match else ("value", "value")
    go_types = {
        "integer": "int32",
        "string": "string",
        "boolean": "bool",
        "array": "[]",
        "object": "map",
        "number": "float64",
        "integer or string": "IntOrString",
    }
    json_names = {
        "object": "object",
        "array": "array",
        "string": "string",
        "integer": "number",
        "number": "number",
        "boolean": "bool",
    }
    return (
        f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot unmarshal '
        f"{json_names.get(actual, actual)} into Go struct field .{cause.field} of type "
        f"{go_types.get(expected, expected)}"
    )
