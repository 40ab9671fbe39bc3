"""Label and field selectors, as clients write them in ``?labelSelector=``.

One parsed form serves list filtering, watch filtering, Deployments and
ReplicaSets (``matchLabels``/``matchExpressions``), Services and webhooks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from labplatform.clusters.embedded.apiserver import errors

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[^\s!=(),]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)|\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # =, !=, in, notin, exists, !
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # != and notin

    def to_query(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"


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
        return ",".join(r.to_query() for r in self.requirements)


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _check(key: str, values: tuple[str, ...], text: str) -> None:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise errors.bad_request(
            f"unable to parse requirement: {key!r}: name part must consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )
    for value in values:
        if not _VALUE.match(value):
            raise errors.bad_request(
                f"unable to parse requirement: values[0][{key}]: Invalid value: {value!r}: a valid "
                "label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                "'.', and must start and end with an alphanumeric character"
            )


def parse_label_selector(text: str) -> LabelSelector:
    """The ``labelSelector`` query syntax: ``a=b,c!=d,e in (f,g),h,!i``."""
    if not text.strip():
        return LabelSelector()
    requirements = []
    for part in _split(text):
        match = _REQUIREMENT.match(part)
        if not match:
            raise errors.bad_request(f"unable to parse requirement: found '{part.strip()}'")
        key = match["key"]
        if match["neg"]:
            if match["op"] or match["setop"]:
                raise errors.bad_request(f"unable to parse requirement: found '{part.strip()}'")
            requirement = Requirement(key, "!")
        elif match["op"]:
            operator = "!=" if match["op"] == "!=" else "="
            requirement = Requirement(key, operator, (match["value"],))
        elif match["setop"]:
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            requirement = Requirement(key, match["setop"], values)
        else:
            requirement = Requirement(key, "exists")
        _check(requirement.key, requirement.values, part)
        requirements.append(requirement)
    return LabelSelector(tuple(requirements))


_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` (matchLabels and matchExpressions)."""
    if not spec:
        return LabelSelector()
    requirements = [
        Requirement(k, "=", (str(v),)) for k, v in sorted((spec.get("matchLabels") or {}).items())
    ]
    for expression in spec.get("matchExpressions") or []:
        operator = _OPERATORS.get(expression.get("operator", ""))
        if operator is None:
            raise errors.bad_request(
                f"{expression.get('operator')!r} is not a valid selector operator"
            )
        requirements.append(
            Requirement(expression["key"], operator, tuple(expression.get("values") or ()))
        )
    return LabelSelector(tuple(requirements))


@dataclass(frozen=True)
class FieldSelector:
    """Equality tests on dotted field paths; the empty selector matches everything."""

    terms: tuple[tuple[str, bool, str], ...] = ()  # (path, equal, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in self.terms)

    def exact_name(self) -> str | None:
        for path, equal, value in self.terms:
            if path == "metadata.name" and equal:
                return value
        return None


def _field(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(text: str, supported: Collection[str]) -> FieldSelector:
    """The ``fieldSelector`` syntax (``=``, ``==``, ``!=``, commas)."""
    if not text.strip():
        return FieldSelector()
    terms = []
    for part in text.split(","):
        match = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path, operator, value = match.groups()
        if path not in supported:
            raise errors.bad_request(f"field label not supported: {path}")
        terms.append((path, operator != "!=", value))
    return FieldSelector(tuple(terms))
