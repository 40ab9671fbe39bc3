"""Structural schemas at work: decoding, pruning and validating request bodies.

Every kind has one OpenAPI-v3 structural schema (:mod:`.builtin_schemas` for
built-in kinds, the CRD's ``openAPIV3Schema`` for custom resources), and the
real API server treats a body against it in two different ways that clients
can tell apart by the error they get back:

* Built-in kinds are decoded into Go structs, so a wrongly typed value is a
  400 BadRequest in Go's words: ``Deployment in version "v1" cannot be
  handled as a Deployment: json: cannot unmarshal string into Go struct field
  DeploymentSpec.spec.replicas of type int32`` (:func:`decode`, ``typed=True``;
  the struct names come from the ``GO_TYPE`` marks in the built-in schemas).
* Custom resources stay JSON and kube-openapi checks them against the CRD's
  schema: a wrongly typed value is a 422 Invalid cause ``spec.hosts: Invalid
  value: "string": spec.hosts in body must be of type array: "string"``
  (:func:`validate_schema`).

Both drop the fields their schema does not declare (pruning); under
``fieldValidation=Strict`` (kubectl's default) that is a 400 ``strict
decoding error: unknown field "spec.foo"``, under ``Warn`` a warning each.

Field errors print their bad values the way apimachinery's ``field`` package
does since Kubernetes 1.34: simple values as Go prints them, composite ones as
compact JSON; the ``field_*`` helpers build such causes for every module.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Literal

from labplatform.clusters.embedded.apiserver.errors import Cause, bad_request

Schema = dict[str, Any]
FieldValidation = Literal["Strict", "Warn", "Ignore"]

# Marks a schema node with the OpenAPI name of the Go type behind it (e.g.
# ``io.k8s.api.apps.v1.DeploymentSpec``): decoding errors name Go types, and
# the OpenAPI documents turn marked nodes into named components.
GO_TYPE = "x-labplatform-go-type"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
EMBEDDED_KEYS = frozenset({"apiVersion", "kind", "metadata"})

# -- field errors ----------------------------------------------------------------------


def _go_float(value: float) -> str:
    """A float64 as Go's ``%v`` prints it (positional below 1e21, ``e+NN`` above)."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text
    power = int(exponent)
    if -4 <= power < 21:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"


def render(value: object) -> str:
    """A bad value as a field error prints it: ``"text"``, ``3``, ``true``, ``{"a":"b"}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _with(detail: str) -> str:
    return f": {detail}" if detail else ""


def field_invalid(field: str, value: object, detail: str = "") -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {render(value)}{_with(detail)}", field)


def field_type_invalid(field: str, value: object, detail: str) -> Cause:
    return Cause("FieldValueTypeInvalid", f"Invalid value: {render(value)}{_with(detail)}", field)


def field_required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", f"Required value{_with(detail)}", field)


def field_forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def field_duplicate(field: str, value: object) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {render(value)}", field)


def field_not_found(field: str, value: object) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {render(value)}", field)


def field_not_supported(field: str, value: object, supported: Sequence[str]) -> Cause:
    allowed = ", ".join(json.dumps(v, ensure_ascii=False) for v in supported)
    return Cause(
        "FieldValueNotSupported",
        f"Unsupported value: {render(value)}{_with('supported values: ' + allowed)}",
        field,
    )


def field_too_long(field: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", field)


def field_too_many(field: str, actual: int, limit: int) -> Cause:
    return Cause("FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items", field)


# -- kube-openapi validation (custom resources) -------------------------------------------


def json_type(value: object) -> str:
    """The JSON-schema type name kube-openapi gives a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(schema: Schema) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    kind = schema.get("type")
    return [kind] if kind else []


def _type_ok(value: object, types: list[str]) -> bool:
    actual = json_type(value)
    return (
        not types
        or actual in types
        or (actual == "integer" and "number" in types)
        or (isinstance(value, float) and value.is_integer() and "integer" in types)
    )


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate_schema(obj: object, schema: Schema, path: str = "") -> list[Cause]:
    """What kube-openapi reports for ``obj`` under a CRD's structural ``schema``.

    Causes carry Kubernetes' field paths (``spec.http[0].route``) and the
    messages of the real server's custom-resource validation, so a bad
    VirtualService reads the same here as on a real cluster.
    """
    causes: list[Cause] = []
    _validate(obj, schema, path, causes)
    return causes


def _validate(value: object, schema: Schema, path: str, causes: list[Cause]) -> None:
    types, actual = _types(schema), json_type(value)
    if value is None and (schema.get("nullable") or not types):
        return
    if value is None or not _type_ok(value, types):
        detail = f'{path} in body must be of type {",".join(types)}: "{actual}"'
        causes.append(field_type_invalid(path, actual, detail))
        return
    _combinators(value, schema, path, causes)
    if isinstance(value, str):
        _string_bounds(value, schema, path, causes)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _number_bounds(value, schema, path, causes)
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _validate(item, items, f"{path}[{index}]", causes)
        _count_bounds(len(value), schema, path, causes, "items")
    if "enum" in schema and value not in schema["enum"]:
        allowed = [v if isinstance(v, str) else render(v) for v in schema["enum"]]
        causes.append(field_not_supported(path, value, allowed))
    if isinstance(value, dict):
        _count_bounds(len(value), schema, path, causes, "properties")
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            child_schema = properties.get(key, extra)
            if isinstance(child_schema, dict):
                _validate(child, child_schema, _child(path, key), causes)
        causes.extend(
            field_required(_child(path, key))
            for key in schema.get("required", ())
            if key not in value
        )


def _string_bounds(value: str, schema: Schema, path: str, causes: list[Cause]) -> None:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        causes.append(field_too_long(path, schema["maxLength"]))
    if "minLength" in schema and len(value) < schema["minLength"]:
        detail = f"{path} in body should be at least {schema['minLength']} chars long"
        causes.append(field_invalid(path, value, detail))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        causes.append(
            field_invalid(path, value, f"{path} in body should match '{schema['pattern']}'")
        )


_BOUNDS: tuple[tuple[str, str, str, Callable[[float, float], bool]], ...] = (
    # keyword, its exclusive flag, the words of the message, the comparison that passes
    ("minimum", "exclusiveMinimum", "greater than", operator.gt),
    ("maximum", "exclusiveMaximum", "less than", operator.lt),
)


def _number_bounds(value: float, schema: Schema, path: str, causes: list[Cause]) -> None:
    for key, exclusive_key, words, passes in _BOUNDS:
        if key not in schema:
            continue
        bound, exclusive = schema[key], bool(schema.get(exclusive_key))
        if not (passes(value, bound) or (not exclusive and value == bound)):
            relation = words if exclusive else f"{words} or equal to"
            detail = f"{path} in body should be {relation} {render(bound)}"
            causes.append(field_invalid(path, value, detail))


def _count_bounds(count: int, schema: Schema, path: str, causes: list[Cause], what: str) -> None:
    low, high = ("minItems", "maxItems") if what == "items" else ("minProperties", "maxProperties")
    if low in schema and count < schema[low]:
        detail = f"{path} in body should have at least {schema[low]} {what}"
        causes.append(field_invalid(path, count, detail))
    if high in schema and count > schema[high]:
        causes.append(field_too_many(path, count, schema[high]))


def _combinators(value: object, schema: Schema, path: str, causes: list[Cause]) -> None:
    """``anyOf``/``oneOf``/``allOf``/``not``, which Istio's CRDs use for exclusive fields."""
    quoted = json.dumps(path)
    for key in ("anyOf", "oneOf"):
        if key not in schema:
            continue
        results: list[list[Cause]] = [validate_schema(value, alt, path) for alt in schema[key]]
        valid = sum(not r for r in results)
        if key == "anyOf" and not valid:
            detail = f"{quoted} must validate at least one schema (anyOf)"
        elif key == "oneOf" and valid != 1:
            found = "Found none valid" if not valid else f"Found {valid} valid alternatives"
            detail = f"{quoted} must validate one and only one schema (oneOf). {found}"
        else:
            continue
        causes.append(field_invalid("", "", detail))
        if not valid:  # with the complaints of the alternative that came closest
            closest: list[Cause] = min(results, key=len)
            causes.extend(closest)
    if "allOf" in schema:
        every = [validate_schema(value, alternative, path) for alternative in schema["allOf"]]
        for result in every:
            causes.extend(result)
        failed = sum(bool(r) for r in every)
        if failed:
            none = ". None validated" if failed == len(every) else ""
            causes.append(
                field_invalid("", "", f"{quoted} must validate all the schemas (allOf){none}")
            )
    if "not" in schema and not validate_schema(value, schema["not"], path):
        causes.append(field_invalid("", "", f"{quoted} must not validate the schema (not)"))


# -- pruning ---------------------------------------------------------------------------------


def _prune(value: Any, schema: Schema, path: str, dropped: list[str]) -> Any:
    if isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return value
        return [_prune(item, items, f"{path}[{i}]", dropped) for i, item in enumerate(value)]
    if not isinstance(value, dict) or schema.get("x-kubernetes-int-or-string"):
        return value
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keeps_unknown = (
        bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        or extra is True
        or (not properties and not extra and "type" not in schema)
    )
    kept: dict[str, Any] = {}
    for key, child in value.items():
        child_schema = properties.get(key, extra if isinstance(extra, dict) else None)
        if child_schema is None:
            if keeps_unknown or (
                schema.get("x-kubernetes-embedded-resource") and key in EMBEDDED_KEYS
            ):
                kept[key] = child
            else:
                dropped.append(_child(path, key))
        elif child is None and not child_schema.get("nullable") and "default" not in child_schema:
            continue  # a null the schema does not allow is dropped, as the real server does
        else:
            kept[key] = _prune(child, child_schema, _child(path, key), dropped)
    return kept


def prune(obj: Any, schema: Schema) -> Any:
    """A copy of ``obj`` holding only what ``schema`` declares, as the server stores it."""
    return _prune(obj, schema, "", [])


def unknown_fields(obj: Any, schema: Schema) -> list[str]:
    """Paths of the fields ``schema`` does not declare, in document order (``spec.foo``).

    The handler turns them into ``strict decoding error: unknown field
    "spec.foo"`` (400 BadRequest) under ``fieldValidation=Strict``, or into
    ``unknown field "spec.foo"`` warnings under ``Warn``.
    """
    dropped: list[str] = []
    _prune(obj, schema, "", dropped)
    return dropped


# -- Go decoding (built-in kinds) -------------------------------------------------------------

_INT_RANGE = {"int32": 2**31, "int64": 2**63}
_QUANTITY_FORMAT = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY_SUFFIX = re.compile(r"(|[KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)")
_BASE64 = re.compile(r"[A-Za-z0-9+/]")


def _go_name(open_api_name: str) -> str:
    """``io.k8s.api.apps.v1.DeploymentSpec`` -> ``v1.DeploymentSpec``, as Go spells the type."""
    return ".".join(open_api_name.split(".")[-2:])


def go_type(schema: Schema) -> str:
    """The Go type a schema node decodes into, as ``json: cannot unmarshal`` names it."""
    marked = schema.get(GO_TYPE)
    if marked:
        return _go_name(marked)
    kind = schema.get("type")
    if kind == "string":
        return "[]uint8" if schema.get("format") == "byte" else "string"
    if kind == "integer":
        return "int64" if schema.get("format") == "int64" else "int32"
    if kind == "array":
        return "[]" + go_type(schema.get("items") or {})
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + go_type(schema["additionalProperties"])
    return {"number": "float64", "boolean": "bool"}.get(str(kind), "map[string]interface {}")


def _json_token(value: object) -> str:
    """What Go's decoder calls a JSON value in ``cannot unmarshal <token>``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _integer_token(value: object, bits: str) -> str | None:
    """Why ``value`` does not fit an ``int32``/``int64`` field, or None when it does."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _json_token(value)
    limit = _INT_RANGE[bits]
    if isinstance(value, float) or not -limit <= value < limit:
        return f"number {value}"
    return None


def _quantity_error(value: object) -> str | None:
    text = value if isinstance(value, str) else json.dumps(value)
    match = re.match(_QUANTITY_FORMAT, text.strip())
    if isinstance(value, (bool, dict, list)) or match is None:
        return f"quantities must match the regular expression '{_QUANTITY_FORMAT}'"
    if match.group(1).count(".") > 1:
        return "unable to parse numeric part of quantity"
    if not _QUANTITY_SUFFIX.fullmatch(match.group(2)):
        return "unable to parse quantity's suffix"
    return None


def _base64_error(text: str) -> str | None:
    """Go's ``illegal base64 data at input byte N`` for what is not standard base64."""
    body = text.replace("\r", "").replace("\n", "")
    stripped = body.rstrip("=")
    for index, char in enumerate(stripped):
        if not _BASE64.match(char):
            return f"illegal base64 data at input byte {index}"
    padding = len(body) - len(stripped)
    if len(body) % 4 or padding > 2 or (padding and len(stripped) % 4 < 2):
        return f"illegal base64 data at input byte {len(stripped) - len(stripped) % 4}"
    return None


def _go_error(value: object, schema: Schema, struct: str, stack: tuple[str, ...]) -> str | None:
    """The first error Go's ``encoding/json`` meets decoding ``value``, in document order."""
    if value is None:
        return None
    marked = schema.get(GO_TYPE)
    if marked == QUANTITY:
        return _quantity_error(value)
    bits = "int32" if marked == INT_OR_STRING else ""
    kind = schema.get("type")
    if marked == INT_OR_STRING and isinstance(value, str):
        return None
    if kind == "integer":
        bits = "int64" if schema.get("format") == "int64" else "int32"
    if bits:
        token = _integer_token(value, bits)
        return _unmarshal(token, bits, struct, stack) if token else None
    expected = {"string": str, "boolean": bool, "array": list, "object": dict}.get(str(kind))
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return _unmarshal(_json_token(value), "float64", struct, stack)
    if expected is not None and (
        not isinstance(value, expected) or (expected is not bool and isinstance(value, bool))
    ):
        return _unmarshal(_json_token(value), go_type(schema), struct, stack)
    if isinstance(value, str) and schema.get("format") == "byte":
        return _base64_error(value)
    if isinstance(value, list):
        items = schema.get("items") or {}
        return next((e for item in value if (e := _go_error(item, items, struct, stack))), None)
    if isinstance(value, dict):
        return _go_object_error(value, schema, struct, stack)
    return None


def _go_object_error(
    value: dict[str, Any], schema: Schema, struct: str, stack: tuple[str, ...]
) -> str | None:
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):  # a Go map: the path stays at the map's field
        return next((e for v in value.values() if (e := _go_error(v, extra, struct, stack))), None)
    properties = schema.get("properties") or {}
    inner = _go_name(schema[GO_TYPE]).split(".")[-1] if GO_TYPE in schema else struct
    for key, child in value.items():
        if key in properties and (error := _go_error(child, properties[key], inner, (*stack, key))):
            return error
    return None


def _unmarshal(token: str, type_name: str, struct: str, stack: tuple[str, ...]) -> str:
    where = f"Go struct field {struct}.{'.'.join(stack)}" if stack else "Go value"
    return f"json: cannot unmarshal {token} into {where} of type {type_name}"


def decode(
    obj: dict[str, Any],
    schema: Schema,
    *,
    kind: str,
    version: str,
    typed: bool = True,
    field_validation: FieldValidation = "Warn",
) -> tuple[dict[str, Any], list[str]]:
    """The object as the server keeps it, with the warnings to send; or the 400 it answers.

    ``typed`` reproduces Go decoding of a built-in kind (wrong types are 400
    BadRequest); custom resources pass ``typed=False`` and meet their type
    errors in :func:`validate_schema`. Undeclared fields are dropped; under
    ``Strict`` they are refused, under ``Warn`` they come back as warnings.
    ``version`` is the request's apiVersion version (``v1``).
    """
    prefix = f'{kind} in version "{version}" cannot be handled as a {kind}: '
    if typed and (problem := _go_error(obj, schema, kind, ())):
        raise bad_request(prefix + problem)
    dropped: list[str] = []
    kept = _prune(obj, schema, "", dropped)
    unknown = [f'unknown field "{path}"' for path in dropped]
    if unknown and field_validation == "Strict":
        raise bad_request(prefix + "strict decoding error: " + ", ".join(unknown))
    return kept, unknown if field_validation == "Warn" else []
