"""Label and field selectors, as clients send them and as specs declare them.

One parsed form serves list and watch filtering (``?labelSelector=``,
``?fieldSelector=``), Deployments and ReplicaSets (``metav1.LabelSelector``),
Scale's ``status.selector`` and webhooks. Parsing follows apimachinery's lexer
and grammar, and refusals carry its messages, so a mistyped ``kubectl get -l``
fails here the way it fails against a real cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.errors import Cause
from labplatform.clusters.embedded.apiserver.names import (
    is_subdomain,
    regex_error,
    subdomain_regex_error,
)

# -- label keys and values ---------------------------------------------------------

_NAME_FORMAT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME = re.compile(_NAME_FORMAT)
_VALUE_FORMAT = f"({_NAME_FORMAT})?"
_VALUE = re.compile(_VALUE_FORMAT)
_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)


def label_key_errors(key: str) -> list[str]:
    """Why ``key`` is not a label key (``[prefix/]name``); empty when it is one."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + regex_error(_NAME_MESSAGE, _NAME_FORMAT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    problems = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                problems.append("prefix part must be no more than 253 bytes")
            if not is_subdomain(prefix):
                problems.append("prefix part " + subdomain_regex_error())
    name = parts[-1]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        problems.append("name part must be no more than 63 bytes")
    if not _NAME.fullmatch(name):
        problems.append(
            "name part " + regex_error(_NAME_MESSAGE, _NAME_FORMAT, "MyName", "my.name", "123-abc")
        )
    return problems


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a label value; empty when it is one (``""`` is)."""
    problems = []
    if len(value.encode()) > 63:
        problems.append("must be no more than 63 bytes")
    if not _VALUE.fullmatch(value):
        problems.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _VALUE_FORMAT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return problems


def _shown(value: object) -> str:
    """A bad value as Go's field errors print it (quoted strings, compact JSON otherwise)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _invalid(path: str, value: object, detail: str) -> str:
    """A ``field.Invalid`` error as Go prints it: ``path: Invalid value: "v": detail``."""
    return f"{path}: Invalid value: {_shown(value)}: {detail}"


# -- label selectors -----------------------------------------------------------------

# Operators as apimachinery's ``selection`` package spells them.
_SET_OPERATORS = frozenset({"in", "notin"})
_EXACT_OPERATORS = frozenset({"=", "==", "!="})
_NUMERIC_OPERATORS = frozenset({"gt", "lt"})
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _is_int64(text: str) -> bool:
    return bool(_INTEGER.fullmatch(text)) and -(2**63) <= int(text) < 2**63


@dataclass(frozen=True)
class Requirement:
    """One condition on one label key."""

    key: str
    operator: str  # in, notin, =, ==, !=, gt, lt, exists, !
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "exists":
            return value is not None
        if self.operator == "!":
            return value is None
        if self.operator in ("in", "=", "=="):
            return value is not None and value in self.values
        if self.operator in ("notin", "!="):
            return value is None or value not in self.values
        # gt and lt compare integers; a label that is not one never matches.
        if value is None or not _is_int64(value):
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.operator == "gt" else int(value) < bound

    def to_query(self) -> str:
        """The requirement in query syntax, values sorted, as the real server renders it."""
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        values = ",".join(sorted(self.values))
        if self.operator in _SET_OPERATORS:
            return f"{self.key} {self.operator} ({values})"
        symbol = {"gt": ">", "lt": "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


def _requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """apimachinery's ``NewRequirement``: the checks, paths and messages it makes."""
    problems = []
    if key_problems := label_key_errors(key):
        problems.append(_invalid("key", key, "; ".join(key_problems)))
    if operator in _SET_OPERATORS and not values:
        problems.append(
            # Go renders the empty (nil) list of values as JSON null.
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        )
    elif operator in _EXACT_OPERATORS and len(values) != 1:
        problems.append(
            _invalid("values", values, "exact-match compatibility requires one single value")
        )
    elif operator in ("exists", "!") and values:
        problems.append(
            _invalid("values", values, "values set must be empty for exists and does not exist")
        )
    elif operator in _NUMERIC_OPERATORS:
        if len(values) != 1:
            problems.append(
                _invalid(
                    "values", values, "for 'Gt', 'Lt' operators, exactly one value is required"
                )
            )
        problems += [
            _invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
            for i, v in enumerate(values)
            if not _is_int64(v)
        ]
    for i, value in enumerate(values):
        if value_problems := label_value_errors(value):
            problems.append(_invalid(f"values[{i}][{key}]", value, "; ".join(value_problems)))
    if problems:
        raise _SyntaxError(_aggregate(problems))
    return Requirement(key, operator, tuple(values))


def _aggregate(messages: list[str]) -> str:
    """A Go error aggregate: one message alone, several deduplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def to_query(self) -> str:
        """The ``labelSelector`` string clients send back (Scale ``status.selector``)."""
        return ",".join(r.to_query() for r in self.requirements)


class _SyntaxError(Exception):
    """A selector the grammar refuses; the message is apimachinery's."""


_SPECIAL = frozenset("=!(),<>")
_WHITESPACE = frozenset(" \t\r\n")
_KEYWORDS = frozenset({"in", "notin"})
_BINARY = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}
_END = "end"
_ID = "id"


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, literal); symbols and keywords are their own kind."""
    tokens = []
    i = 0
    while True:
        while i < len(text) and text[i] in _WHITESPACE:
            i += 1
        if i == len(text):
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SPECIAL:
            symbol = text[i : i + 2] if text[i : i + 2] in ("!=", "==") else text[i]
            tokens.append((symbol, symbol))
            i += len(symbol)
            continue
        start = i
        while i < len(text) and text[i] not in _SPECIAL and text[i] not in _WHITESPACE:
            i += 1
        word = text[start:i]
        tokens.append((word if word in _KEYWORDS else _ID, word))


class _Parser:
    """apimachinery's recursive descent over the tokens, error for error.

    Outside the operator position ``in`` and ``notin`` are plain identifiers,
    so ``in in (in)`` is a valid selector.
    """

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        kind, literal = self.tokens[self.position]
        return (_ID if kind in _KEYWORDS else kind), literal

    def take(self, operator: bool = False) -> tuple[str, str]:
        kind, literal = self.tokens[self.position]
        self.position += 1
        return (_ID if kind in _KEYWORDS and not operator else kind), literal

    def selector(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == _END:
                return requirements
            if kind not in (_ID, "!"):
                raise _SyntaxError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self.requirement())
            except _SyntaxError as exc:
                raise _SyntaxError(f"unable to parse requirement: {exc}") from None
            kind, literal = self.take()
            if kind == _END:
                return requirements
            if kind != ",":
                raise _SyntaxError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in (_ID, "!"):
                raise _SyntaxError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
        if kind != _ID:
            raise _SyntaxError(f"found '{key}', expected: identifier")
        if problems := label_key_errors(key):
            # The parser checks the key with no field path, which Go prints as <nil>.
            raise _SyntaxError(_invalid("<nil>", key, "; ".join(problems)))
        if negated:
            return _requirement(key, "!", [])
        if self.peek()[0] in (_END, ","):
            return _requirement(key, "exists", [])
        kind, literal = self.take(operator=True)
        operator = _BINARY.get(kind)
        if operator is None:
            raise _SyntaxError(f"found '{literal}', expected: in, notin, =, ==, !=, gt, lt")
        values = self.value_set() if operator in _SET_OPERATORS else self.exact_value()
        return _requirement(key, operator, sorted(values))

    def value_set(self) -> set[str]:
        kind, literal = self.take()
        if kind != "(":
            raise _SyntaxError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return {""}
        if kind not in (_ID, ","):
            raise _SyntaxError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        self.take()  # the closing parenthesis identifiers() stopped at
        return values

    def identifiers(self) -> set[str]:
        """A comma-separated list in which empty entries stand for the empty value."""
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind == _ID:
                values.add(literal)
                kind, literal = self.peek()
                if kind == ")":
                    return values
                if kind != ",":
                    raise _SyntaxError(f"found '{literal}', expected: ',' or ')'")
            elif kind == ",":
                following = self.peek()[0]
                if not values or following in (")", ","):
                    values.add("")
                if following == ")":
                    return values
            else:
                raise _SyntaxError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_END, ","):
            return {""}
        kind, literal = self.take()
        if kind != _ID:
            raise _SyntaxError(f"found '{literal}', expected: identifier")
        return {literal}


def parse_label_selector(text: str) -> LabelSelector:
    """The ``labelSelector`` query: ``a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3``.

    A malformed selector is the 400 BadRequest a real server answers.
    """
    try:
        requirements = _Parser(text).selector()
    except _SyntaxError as exc:
        raise errors.bad_request(str(exc)) from None
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_SPEC_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` (``matchLabels`` and ``matchExpressions``).

    An absent selector is treated as the empty one, which matches everything:
    the API defaults webhooks' selectors to ``{}``, and Deployments and
    ReplicaSets must declare theirs. Stored objects have passed
    :func:`validate_label_selector`; anything else is a 400 BadRequest.
    """
    spec = spec or {}
    try:
        requirements = [
            _requirement(key, "=", [str(value)])
            for key, value in (spec.get("matchLabels") or {}).items()
        ]
        for expression in spec.get("matchExpressions") or []:
            operator = _SPEC_OPERATORS.get(expression.get("operator"))
            if operator is None:
                raise _SyntaxError(
                    f"{_shown(expression.get('operator'))} is not a valid label selector operator"
                )
            values = list(expression.get("values") or [])
            requirements.append(_requirement(expression.get("key", ""), operator, values))
    except _SyntaxError as exc:
        raise errors.bad_request(str(exc)) from None
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def validate_label_selector(spec: Mapping[str, Any] | None, path: str) -> list[Cause]:
    """The field errors the real server reports for a ``metav1.LabelSelector`` at ``path``.

    For validation to include, so a bad selector in a Deployment is a 422
    Invalid naming the field, as it is on a real cluster.
    """
    spec = spec or {}
    causes: list[Cause] = []

    def invalid(field: str, value: Any, problems: list[str]) -> None:
        message = f"Invalid value: {_shown(value)}: "
        causes.extend(Cause("FieldValueInvalid", message + p, field) for p in problems)

    for key, value in (spec.get("matchLabels") or {}).items():
        invalid(f"{path}.matchLabels", key, label_key_errors(key))
        invalid(f"{path}.matchLabels", value, label_value_errors(value))
    for i, expression in enumerate(spec.get("matchExpressions") or []):
        at = f"{path}.matchExpressions[{i}]"
        operator, values = expression.get("operator"), expression.get("values") or []
        if operator in ("In", "NotIn") and not values:
            causes.append(
                Cause(
                    "FieldValueRequired",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                    f"{at}.values",
                )
            )
        elif operator in ("Exists", "DoesNotExist") and values:
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    f"{at}.values",
                )
            )
        elif operator not in _SPEC_OPERATORS:
            invalid(f"{at}.operator", operator, ["not a valid selector operator"])
        key = expression.get("key", "")
        invalid(f"{at}.key", key, label_key_errors(key))
        for j, value in enumerate(values):
            invalid(f"{at}.values[{j}]", value, label_value_errors(value))
    return causes


# -- field selectors -------------------------------------------------------------------

META_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})

# The field labels of the kinds whose real server registers its own (everything
# else answers to META_FIELD_LABELS alone, and words a refusal differently).
FIELD_LABELS: dict[str, frozenset[str]] = {
    "Pod": META_FIELD_LABELS
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "Node": frozenset({"metadata.name", "spec.unschedulable"}),
    "Event": META_FIELD_LABELS
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "Namespace": frozenset({"metadata.name", "status.phase"}),
    "Secret": META_FIELD_LABELS | {"type"},
    "Service": META_FIELD_LABELS | {"spec.clusterIP", "spec.type"},
}


def _dig(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _first_pod_ip(pod: Mapping[str, Any]) -> Any:
    ips = _dig(pod, "status.podIPs") or []
    return ips[0].get("ip") if ips else _dig(pod, "status.podIP")


# Fields whose selectable value is not simply the value at their path.
_COMPUTED: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "source": lambda e: _dig(e, "source.component") or e.get("reportingComponent"),
    "status.podIP": _first_pod_ip,
    "spec.hostNetwork": lambda p: _dig(p, "spec.hostNetwork") or False,
    "spec.unschedulable": lambda n: _dig(n, "spec.unschedulable") or False,
}


def _field_text(obj: Mapping[str, Any], path: str) -> str:
    """The value a field selector compares, as text; absent fields are ``""``."""
    getter = _COMPUTED.get(path)
    value = getter(obj) if getter else _dig(obj, path)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class FieldSelector:
    """Equality tests on fields; the empty selector matches everything."""

    terms: tuple[tuple[str, bool, str], ...] = ()  # (field, equal, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field_text(obj, f) == value) == equal for f, equal, value in self.terms)

    def exact_name(self) -> str | None:
        """The name the selector pins (``metadata.name=x``), so a store can skip a scan."""
        return next((v for f, equal, v in self.terms if f == "metadata.name" and equal), None)


def _split_terms(text: str) -> list[str]:
    """Split on commas, leaving backslash-escaped ones (and their backslash) in place."""
    terms, start, escaped = [], 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise _SyntaxError(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go prints the offending rune as its number.
            raise _SyntaxError(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            out.append(char)
    if escaped:
        raise _SyntaxError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


_TERM = re.compile(r"(.*?)(!=|==|=)(.*)", re.S)


def parse_field_selector(text: str, supported: Collection[str] | None = None) -> FieldSelector:
    """The ``fieldSelector`` query: ``field=value``, ``==``, ``!=``, comma-separated.

    ``supported`` is the kind's field labels (see :data:`FIELD_LABELS`; a
    custom resource's are ``metadata.name``, plus ``metadata.namespace`` when
    namespaced). ``None`` means the kind registers none of its own: only
    ``metadata.name`` and ``metadata.namespace`` then, and the real server
    words the refusal differently. Nothing is trimmed: ``a = b`` asks about a
    field called ``"a "``, as on a real cluster.
    """
    terms = []
    try:
        for part in sorted(_split_terms(text)) if text else []:
            if not part:
                continue
            match = _TERM.fullmatch(part)
            if match is None:
                raise _SyntaxError(f"invalid selector: '{text}'; can't understand '{part}'")
            field, operator, value = match.groups()
            terms.append((field, operator != "!=", _unescape(value)))
    except _SyntaxError as exc:
        raise errors.bad_request(str(exc)) from None
    for field, _, _ in terms:
        if supported is None and field not in META_FIELD_LABELS:
            raise errors.bad_request(
                f'"{field}" is not a known field selector: only "metadata.name", '
                '"metadata.namespace"'
            )
        if supported is not None and field not in supported:
            raise errors.bad_request(f"field label not supported: {field}")
    return FieldSelector(tuple(terms))
