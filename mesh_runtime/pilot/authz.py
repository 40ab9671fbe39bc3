"""AuthorizationPolicy to Envoy's RBAC filter, as Istio's authz builder does it.

Each policy selecting the workload contributes one Envoy policy per rule: a
request matches a rule when it matches one of its ``from`` sources (all of
a source's fields), one of its ``to`` operations (all of an operation's
fields) and every ``when`` condition. DENY policies are checked first, then
ALLOW ones (when any exist, a request none of them allows is refused with
403 ``RBAC: access denied``); AUDIT only logs. An ALLOW policy without rules
allows nothing, and ``rules: [{}]`` allows everything, as in Istio.

Over plain TCP the HTTP-only fields (methods, paths, hosts, request
principals, headers, claims) cannot be seen: an ALLOW rule that needs them
never matches, and a DENY rule is applied without them, denying more
rather than less.
"""

from __future__ import annotations

import re
from typing import Any

Obj = dict[str, Any]
JWT_FILTER = "envoy.filters.http.jwt_authn"
PAYLOAD = "payload"  # where jwt_authn leaves a verified token's claims
HTTP_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
TCP_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
ACTIONS = {"ALLOW": "ALLOW", "DENY": "DENY", "AUDIT": "LOG"}
ORDER = ("DENY", "AUDIT", "ALLOW")
HTTP_ONLY = {"methods", "notMethods", "paths", "notPaths", "hosts", "notHosts",
             "requestPrincipals", "notRequestPrincipals"}  # fmt: skip
ANY: Obj = {"any": True}


class HttpOnlyError(Exception):
    """A condition only an HTTP request has (raised while building a TCP rule)."""


def rbac_filters(policies: list[Obj], http: bool) -> list[Obj]:
    """RBAC filters (HTTP or network), DENY before ALLOW; none when no policy applies."""
    by_action: dict[str, dict[str, Obj]] = {}
    for policy in policies:
        action = policy.get("spec", {}).get("action", "ALLOW")
        if action not in ACTIONS:
            continue  # CUSTOM needs an external authorizer
        chosen = by_action.setdefault(action, {})
        meta = policy["metadata"]
        name = f"ns[{meta.get('namespace', 'default')}]-policy[{meta['name']}]"
        for index, rule in enumerate(policy.get("spec", {}).get("rules") or []):
            built = _rule(rule or {}, http, action)
            if built is not None:
                chosen[f"{name}-rule[{index}]"] = built
    filters = []
    for action in ORDER:
        if action not in by_action:
            continue
        name = "envoy.filters.http.rbac" if http else "envoy.filters.network.rbac"
        rules = {"action": ACTIONS[action], "policies": by_action[action]}
        config: Obj = {"@type": HTTP_RBAC if http else TCP_RBAC, "rules": rules}
        if not http:
            config["stat_prefix"] = "tcp."
        filters.append({"name": name, "typed_config": config})
    return filters


def _rule(rule: Obj, http: bool, action: str) -> Obj | None:
    """One rule as an Envoy policy, or None when it can never match (HTTP-only, over TCP)."""
    try:
        sources = [_source(f.get("source") or {}, http, action) for f in rule.get("from") or []]
        operations = [_operation(t.get("operation") or {}, http, action)
                      for t in rule.get("to") or []]  # fmt: skip
        permissions, principals = [_or(operations, "rules")], [_or(sources, "ids")]
        for condition in rule.get("when") or []:
            side, matcher = _condition(condition, http, action)
            (permissions if side == "rules" else principals).append(matcher)
    except HttpOnlyError:
        return None
    return {"permissions": [_and(permissions, "rules")], "principals": [_and(principals, "ids")]}


def _or(items: list[Obj], kind: str) -> Obj:
    """Any of ``items`` (``kind``: "rules" for permissions, "ids" for principals)."""
    if not items:
        return ANY
    return items[0] if len(items) == 1 else {f"or_{kind}": {kind: items}}


def _and(items: list[Obj], kind: str) -> Obj:
    items = [item for item in items if item != ANY]
    if not items:
        return ANY
    return items[0] if len(items) == 1 else {f"and_{kind}": {kind: items}}


def _not(item: Obj, kind: str) -> Obj:
    return {"not_rule" if kind == "rules" else "not_id": item}


def _fields(spec: Obj, builders: dict[str, Any], kind: str, http: bool, action: str) -> Obj:
    """All of a source's or operation's fields; each field any of its values; ``notX`` negated."""
    matchers = []
    for field, build in builders.items():
        for negated, key in ((False, field), (True, "not" + field[0].upper() + field[1:])):
            values = spec.get(key)
            if not values:
                continue
            if key in HTTP_ONLY and not http:
                if action == "ALLOW":
                    raise HttpOnlyError(key)
                continue  # DENY over TCP: without the HTTP condition, denying more
            matcher = _or([build(str(value)) for value in values], kind)
            matchers.append(_not(matcher, kind) if negated else matcher)
    return _and(matchers, kind)


def _string(value: str, prefix: str = "", ignore_case: bool = False) -> Obj:
    """Istio's value syntax: ``*`` any, ``abc*`` prefix, ``*abc`` suffix, else exact."""
    if value == "*":
        match: Obj = {"safe_regex": {"regex": ".+"}}
    elif value.endswith("*"):
        match = {"prefix": prefix + value[:-1]}
    elif value.startswith("*"):
        match = {"suffix": value[1:]} if not prefix else {
            "safe_regex": {"regex": re.escape(prefix) + ".*" + re.escape(value[1:])}}  # fmt: skip
    else:
        match = {"exact": prefix + value}
    if ignore_case:
        match["ignore_case"] = True
    return match


def _principal(value: str) -> Obj:
    return {"authenticated": {"principal_name": _string(value, prefix="spiffe://")}}


def _namespace(value: str) -> Obj:
    if value == "*":
        pattern = "[^/]+"
    elif value.endswith("*"):
        pattern = re.escape(value[:-1]) + "[^/]*"
    elif value.startswith("*"):
        pattern = "[^/]*" + re.escape(value[1:])
    else:
        pattern = re.escape(value)
    regex = f"spiffe://[^/]+/ns/{pattern}/sa/[^/]+"
    return {"authenticated": {"principal_name": {"safe_regex": {"regex": regex}}}}


def _claim(path: list[str], value: str) -> Obj:
    """A verified token's claim equals ``value``, or (a list claim) contains it."""

    def metadata(matcher: Obj) -> Obj:
        keys = [{"key": PAYLOAD}, *({"key": key} for key in path)]
        return {"metadata": {"filter": JWT_FILTER, "path": keys, "value": matcher}}

    if value == "*":
        return metadata({"present_match": True})
    string = {"string_match": _string(value)}
    return {"or_ids": {"ids": [metadata(string), metadata({"list_match": {"one_of": string}})]}}


def _request_principal(value: str) -> Obj:
    """``iss/sub`` of a verified token (``*``: any verified token)."""
    if value == "*":
        return _claim(["iss"], "*")
    issuer, _, subject = value.rpartition("/")
    return {"and_ids": {"ids": [_claim(["iss"], issuer), _claim(["sub"], subject)]}}


def _cidr(value: str) -> Obj:
    address, _, length = value.partition("/")
    bits = int(length) if length else (128 if ":" in address else 32)
    return {"address_prefix": address, "prefix_len": bits}


SOURCE_FIELDS: dict[str, Any] = {
    "principals": _principal,
    "namespaces": _namespace,
    "ipBlocks": lambda v: {"direct_remote_ip": _cidr(v)},
    "remoteIpBlocks": lambda v: {"remote_ip": _cidr(v)},
    "requestPrincipals": _request_principal,
}
OPERATION_FIELDS: dict[str, Any] = {
    "hosts": lambda v: {
        "header": {"name": ":authority", "string_match": _string(v, ignore_case=True)}
    },
    "ports": lambda v: {"destination_port": int(v)},
    "methods": lambda v: {"header": {"name": ":method", "string_match": {"exact": v}}},
    "paths": lambda v: {"url_path": {"path": _string(v)}},
}


def _source(source: Obj, http: bool, action: str) -> Obj:
    return _fields(source, SOURCE_FIELDS, "ids", http, action)


def _operation(operation: Obj, http: bool, action: str) -> Obj:
    return _fields(operation, OPERATION_FIELDS, "rules", http, action)


def condition_builder(key: str) -> tuple[str, Any, bool] | None:
    """For a ``when`` key: (side, value -> matcher, HTTP only); None for a key Istio lacks."""
    header = re.fullmatch(r"request\.headers\[(.+)\]", key)
    if header:
        name = header.group(1).lower()
        return "rules", lambda v: {"header": {"name": name, "string_match": _string(v)}}, True
    claim = re.fullmatch(r"request\.auth\.claims((?:\[[^\]]+\])+)", key)
    if claim:
        path = re.findall(r"\[([^\]]+)\]", claim.group(1))
        return "ids", lambda v: _claim(path, v), True
    return CONDITIONS.get(key)


CONDITIONS: dict[str, tuple[str, Any, bool]] = {
    "source.ip": ("ids", SOURCE_FIELDS["ipBlocks"], False),
    "remote.ip": ("ids", SOURCE_FIELDS["remoteIpBlocks"], False),
    "source.namespace": ("ids", _namespace, False),
    "source.principal": ("ids", _principal, False),
    "request.auth.principal": ("ids", _request_principal, True),
    "request.auth.audiences": ("ids", lambda v: _claim(["aud"], v), True),
    "request.auth.presenter": ("ids", lambda v: _claim(["azp"], v), True),
    "destination.ip": ("rules", lambda v: {"destination_ip": _cidr(v)}, False),
    "destination.port": ("rules", lambda v: {"destination_port": int(v)}, False),
    "connection.sni": ("rules", lambda v: {"requested_server_name": _string(v)}, False),
}


def _condition(condition: Obj, http: bool, action: str) -> tuple[str, Obj]:
    key = str(condition.get("key", ""))
    found = condition_builder(key)
    if found is None:
        return "rules", _not(ANY, "rules")  # validation refuses these; never match if one slips by
    side, build, http_only = found
    if http_only and not http:
        if action == "ALLOW":
            raise HttpOnlyError(key)
        return side, ANY
    matchers = []
    if condition.get("values"):
        matchers.append(_or([build(str(v)) for v in condition["values"]], side))
    if condition.get("notValues"):
        matchers.append(_not(_or([build(str(v)) for v in condition["notValues"]], side), side))
    return side, _and(matchers, side)
