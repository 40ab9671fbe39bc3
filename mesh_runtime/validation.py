"""Istio's validation of networking config: the rules its webhook applies, with its messages.

The API server's schema already refuses wrong types; what is left are the
rules a schema cannot say (a fault needs an abort or a delay, a percentage
lies in 0..100, weights do not all vanish, durations are at least a
millisecond) and they are what a learner trips on. Each message is Istio's,
prefixed with where in the object it applies (``http[1].fault``), so a long
VirtualService points at its bad line. pilot answers the validating
webhook with :func:`validate`, and ``meshctl validate -f`` runs the same
function offline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from labkit.durations import parse_duration
from mesh_runtime.pilot.authz import condition_builder  # the `when` keys pilot translates

Obj = dict[str, Any]
GROUP = "networking.istio.io"
SECURITY_GROUP = "security.istio.io"
GROUPS = (GROUP, SECURITY_GROUP)
RETRY_ON = {
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
    "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes",
    "retriable-headers", "http3-post-connect-failure", "cancelled", "deadline-exceeded",
    "internal", "resource-exhausted", "unavailable",
}  # fmt: skip
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
LB_SIMPLE = {"UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"}
PROTOCOLS = {"HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "MYSQL", "REDIS", "TCP",
             "TLS", "UDP"}  # fmt: skip
TLS_PROTOCOLS = {"HTTPS", "TLS"}
RESOLUTIONS = {"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")


class Errors:
    """Messages collected while walking one object, each with its location."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path}: {message}" if path else message)


def validate(obj: Obj) -> list[str]:
    """Istio's complaints about ``obj`` (empty when it is valid, or not an Istio kind)."""
    validator = VALIDATORS.get(str(obj.get("kind")))
    if validator is None or not str(obj.get("apiVersion", "")).startswith(GROUPS):
        return []
    errors = Errors()
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.add("", "spec is required")
    else:
        validator(spec, errors)
    return errors.messages


def describe(messages: list[str]) -> str:
    """Several messages the way Istio's webhook reports them (one stays one line)."""
    if len(messages) == 1:
        return f"configuration is invalid: {messages[0]}"
    items = "".join(f"\n\t* {message}" for message in messages)
    return f"configuration is invalid: {len(messages)} errors occurred:{items}"


# -- shared pieces -----------------------------------------------------------


def _items(value: Any, path: str, errors: Errors) -> Iterable[tuple[str, Obj]]:
    """The entries of a list of objects with their paths; anything else is reported."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, "must be a list")
        return []
    found = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            found.append((f"{path}[{index}]", item))
        else:
            errors.add(f"{path}[{index}]", "must be an object")
    return found


def _host(host: Any, path: str, errors: Errors) -> None:
    """Istio's wildcard domain rule: DNS labels, ``*`` allowed only as the first one."""
    if not isinstance(host, str) or not host:
        errors.add(path, "empty domain name not allowed")
        return
    if len(host) > 255:
        errors.add(path, f"domain name {host!r} too long (max 255)")
        return
    labels = host.split(".")
    if labels[0] == "*" or (labels[0].startswith("*") and len(labels[0]) > 1):
        labels = labels[1:]
    if labels and any(not _DOMAIN_LABEL.match(label) or len(label) > 63 for label in labels):
        errors.add(path, f"domain name {host!r} invalid (label must be a DNS label)")


def _port_number(number: Any, path: str, errors: Errors) -> None:
    if not isinstance(number, int) or not 1 <= number <= 65535:
        errors.add(path, f"port number {number} must be in the range 1..65535")


def _duration(value: Any, path: str, errors: Errors, zero_allowed: bool = False) -> None:
    try:
        seconds = parse_duration(str(value))
    except ValueError as error:
        errors.add(path, str(error))
        return
    if zero_allowed and seconds == 0:
        return
    if seconds < Decimal("0.001"):
        errors.add(path, "duration must be greater than 1ms")
    elif seconds % Decimal("0.001"):
        errors.add(path, "only durations to ms precision are supported")


def _percentage(value: Any, path: str, errors: Errors) -> None:
    amount = value.get("value", 0) if isinstance(value, dict) else value
    if not isinstance(amount, int | float) or not 0 <= amount <= 100:
        errors.add(path, f"percentage {amount} is not in range 0..100")


def _subset_name(name: Any, path: str, errors: Errors) -> None:
    if not name:
        errors.add(path, "subset name cannot be empty")
    elif not isinstance(name, str) or not _DNS_LABEL.match(name):
        errors.add(path, f"subset name is invalid: {name}")


def _destination(destination: Any, path: str, errors: Errors) -> None:
    if not isinstance(destination, dict):
        errors.add(path, "destination is required")
        return
    _host(destination.get("host"), f"{path}.host", errors)
    if "subset" in destination:
        _subset_name(destination["subset"], f"{path}.subset", errors)
    port = destination.get("port")
    if isinstance(port, dict) and "number" in port:
        _port_number(port["number"], f"{path}.port.number", errors)


def _weighted(routes: Any, path: str, errors: Errors) -> None:
    """Destinations with weights: each non-negative, and not all zero when there are several."""
    entries = list(_items(routes, path, errors))
    total = 0
    for route_path, route in entries:
        _destination(route.get("destination"), f"{route_path}.destination", errors)
        weight = route.get("weight", 0)
        if not isinstance(weight, int) or weight < 0:
            errors.add(f"{route_path}.weight", f"weight {weight} < 0")
        else:
            total += weight
    if len(entries) > 1 and total == 0:
        errors.add(path, "total destination weight = 0")


def _string_match(condition: Any, path: str, errors: Errors) -> None:
    if not isinstance(condition, dict) or len(condition) != 1:
        errors.add(path, "must be exactly one of exact, prefix or regex")
        return
    kind, value = next(iter(condition.items()))
    if kind not in ("exact", "prefix", "regex"):
        errors.add(path, f"{kind!r} is not a match type (use exact, prefix or regex)")
    elif kind == "regex":
        try:
            re.compile(str(value))
        except re.error as error:
            errors.add(path, f"{value!r} is not a valid regex: {error}")


def _matches(matches: Any, path: str, errors: Errors) -> None:
    for match_path, match in _items(matches, path, errors):
        for field in ("uri", "scheme", "method", "authority"):
            if field in match:
                _string_match(match[field], f"{match_path}.{field}", errors)
        for field in ("headers", "queryParams", "withoutHeaders"):
            for name, condition in (match.get(field) or {}).items():
                if field == "headers" and name != name.lower():
                    errors.add(f"{match_path}.headers", f"header name {name!r} must be lowercase")
                if condition:  # an empty condition means "present"
                    _string_match(condition, f"{match_path}.{field}.{name}", errors)
        if "port" in match:
            _port_number(match["port"], f"{match_path}.port", errors)


# -- VirtualService ------------------------------------------------------------


def _virtual_service(spec: Obj, errors: Errors) -> None:
    hosts = spec.get("hosts") or []
    if not hosts:
        errors.add("hosts", "virtual service must have at least one host")
    gateways = spec.get("gateways") or ["mesh"]
    for index, host in enumerate(hosts):
        if host == "*" and "mesh" in gateways:
            errors.add(f"hosts[{index}]", "wildcard host * is not allowed for virtual services "
                       "bound to the mesh gateway")  # fmt: skip
        else:
            _host(host, f"hosts[{index}]", errors)
    if not any(spec.get(kind) for kind in ("http", "tcp", "tls")):
        errors.add("", "http, tcp or tls must be provided in virtual service")
    for path, route in _items(spec.get("http"), "http", errors):
        _http_route(route, path, errors)
    for path, route in _items(spec.get("tcp"), "tcp", errors):
        if not route.get("route"):
            errors.add(path, "TCP route is required")
        _weighted(route.get("route"), f"{path}.route", errors)
        for match_path, match in _items(route.get("match"), f"{path}.match", errors):
            if "port" in match:
                _port_number(match["port"], f"{match_path}.port", errors)


def _http_route(route: Obj, path: str, errors: Errors) -> None:
    forwards = bool(route.get("route"))
    if not forwards and "redirect" not in route and "directResponse" not in route:
        errors.add(path, "HTTP route, redirect or direct response is required")
    if forwards and "redirect" in route:
        errors.add(path, "HTTP route cannot contain both route and redirect")
    if "redirect" in route and "rewrite" in route:
        errors.add(path, "HTTP route rule cannot contain both rewrite and redirect")
    _matches(route.get("match"), f"{path}.match", errors)
    _weighted(route.get("route"), f"{path}.route", errors)
    redirect = route.get("redirect")
    if isinstance(redirect, dict) and "redirectCode" in redirect:
        code = redirect["redirectCode"]
        if not isinstance(code, int) or not 300 <= code <= 399:
            errors.add(f"{path}.redirect", f"{code} is not a valid redirect code, must be 3xx")
    response = route.get("directResponse")
    if isinstance(response, dict):
        status = response.get("status")
        if not isinstance(status, int) or not 200 <= status <= 599:
            errors.add(f"{path}.directResponse", f"invalid direct response status {status}")
    if "timeout" in route:
        _duration(route["timeout"], f"{path}.timeout", errors, zero_allowed=True)
    if "retries" in route:
        _retries(route["retries"], f"{path}.retries", errors)
    if "fault" in route:
        _fault(route["fault"], f"{path}.fault", errors)
    if "mirror" in route:
        _destination(route["mirror"], f"{path}.mirror", errors)
    if "mirrorPercentage" in route:
        _percentage(route["mirrorPercentage"], f"{path}.mirrorPercentage", errors)
    if "corsPolicy" in route:
        _cors(route["corsPolicy"], f"{path}.corsPolicy", errors)


def _retries(retries: Any, path: str, errors: Errors) -> None:
    if not isinstance(retries, dict):
        return
    attempts = retries.get("attempts", 0)
    if not isinstance(attempts, int) or attempts < 0:
        errors.add(f"{path}.attempts", "attempts must be positive")
    if "perTryTimeout" in retries:
        _duration(retries["perTryTimeout"], f"{path}.perTryTimeout", errors)
    for policy in str(retries.get("retryOn", "")).split(","):
        policy = policy.strip()
        if policy and policy not in RETRY_ON and not policy.isdigit():
            errors.add(f"{path}.retryOn", f"{policy!r} is not a valid retryOn policy")


def _fault(fault: Any, path: str, errors: Errors) -> None:
    if not isinstance(fault, dict) or not (fault.get("abort") or fault.get("delay")):
        errors.add(path, "HTTP fault injection must have an abort and/or a delay")
        return
    abort, delay = fault.get("abort"), fault.get("delay")
    if isinstance(abort, dict):
        status = abort.get("httpStatus")
        if "httpStatus" in abort and (not isinstance(status, int) or not 200 <= status <= 599):
            errors.add(f"{path}.abort.httpStatus", f"invalid abort http status {status}")
        if "percentage" in abort:
            _percentage(abort["percentage"], f"{path}.abort.percentage", errors)
    if isinstance(delay, dict):
        if "fixedDelay" not in delay and "exponentialDelay" not in delay:
            errors.add(f"{path}.delay", "duration required")
        elif "fixedDelay" in delay:
            _duration(delay["fixedDelay"], f"{path}.delay.fixedDelay", errors)
        if "percentage" in delay:
            _percentage(delay["percentage"], f"{path}.delay.percentage", errors)


def _cors(cors: Any, path: str, errors: Errors) -> None:
    if not isinstance(cors, dict):
        return
    for method in cors.get("allowMethods") or []:
        if method not in HTTP_METHODS:
            errors.add(f"{path}.allowMethods", f"{method!r} is not a valid HTTP method")
    for index, origin in enumerate(cors.get("allowOrigins") or []):
        _string_match(origin, f"{path}.allowOrigins[{index}]", errors)
    if "maxAge" in cors:
        _duration(cors["maxAge"], f"{path}.maxAge", errors)


# -- DestinationRule -----------------------------------------------------------


def _destination_rule(spec: Obj, errors: Errors) -> None:
    _host(spec.get("host"), "host", errors)
    _traffic_policy(spec.get("trafficPolicy"), "trafficPolicy", errors, ports=True)
    names: set[Any] = set()
    for path, subset in _items(spec.get("subsets"), "subsets", errors):
        name = subset.get("name")
        _subset_name(name, f"{path}.name", errors)
        if name in names:
            errors.add(f"{path}.name", f"duplicate subset names: {name}")
        names.add(name)
        _traffic_policy(subset.get("trafficPolicy"), f"{path}.trafficPolicy", errors, ports=True)


def _traffic_policy(policy: Any, path: str, errors: Errors, ports: bool = False) -> None:
    if not isinstance(policy, dict):
        return
    balancer = policy.get("loadBalancer")
    if isinstance(balancer, dict):
        if "simple" in balancer and balancer["simple"] not in LB_SIMPLE:
            errors.add(f"{path}.loadBalancer.simple",
                       f"{balancer['simple']!r} is not a load balancer")  # fmt: skip
        hashing = balancer.get("consistentHash")
        keys = ("httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName")
        if isinstance(hashing, dict) and sum(key in hashing for key in keys) != 1:
            errors.add(f"{path}.loadBalancer.consistentHash",
                       "consistent hash must have exactly one hash key")  # fmt: skip
    _connection_pool(policy.get("connectionPool"), f"{path}.connectionPool", errors)
    _outlier_detection(policy.get("outlierDetection"), f"{path}.outlierDetection", errors)
    if not ports:
        return
    levels = _items(policy.get("portLevelSettings"), f"{path}.portLevelSettings", errors)
    for level_path, level in levels:
        number = (level.get("port") or {}).get("number")
        if number is None:
            errors.add(level_path, "port must be specified")
        else:
            _port_number(number, f"{level_path}.port.number", errors)
        _traffic_policy(level, level_path, errors)


def _non_negative(section: Obj, fields: Iterable[str], path: str, errors: Errors) -> None:
    for field in fields:
        value = section.get(field)
        if value is not None and (not isinstance(value, int) or value < 0):
            errors.add(f"{path}.{field}", f"{field} must be non-negative")


def _connection_pool(pool: Any, path: str, errors: Errors) -> None:
    if not isinstance(pool, dict):
        return
    if not pool.get("tcp") and not pool.get("http"):
        errors.add(path, "connection pool must have at least one field")
    tcp, http = pool.get("tcp") or {}, pool.get("http") or {}
    _non_negative(tcp, ("maxConnections",), f"{path}.tcp", errors)
    if "connectTimeout" in tcp:
        _duration(tcp["connectTimeout"], f"{path}.tcp.connectTimeout", errors)
    _non_negative(http, ("http1MaxPendingRequests", "http2MaxRequests", "maxRetries",
                         "maxRequestsPerConnection"), f"{path}.http", errors)  # fmt: skip
    if "idleTimeout" in http:
        _duration(http["idleTimeout"], f"{path}.http.idleTimeout", errors)


def _outlier_detection(outlier: Any, path: str, errors: Errors) -> None:
    if not isinstance(outlier, dict):
        return
    _non_negative(outlier, ("consecutiveErrors", "consecutive5xxErrors",
                            "consecutiveGatewayErrors"), path, errors)  # fmt: skip
    for field in ("interval", "baseEjectionTime"):
        if field in outlier:
            _duration(outlier[field], f"{path}.{field}", errors)
    for field in ("maxEjectionPercent", "minHealthPercent"):
        value = outlier.get(field)
        if value is not None and (not isinstance(value, int) or not 0 <= value <= 100):
            errors.add(f"{path}.{field}", f"{field} must be in range [0, 100]")


# -- Gateway -------------------------------------------------------------------


def _gateway(spec: Obj, errors: Errors) -> None:
    servers = list(_items(spec.get("servers"), "servers", errors))
    if not servers:
        errors.add("servers", "gateway must have at least one server")
    for path, server in servers:
        port = server.get("port")
        if not isinstance(port, dict):
            errors.add(f"{path}.port", "port is required")
            continue
        _port_number(port.get("number"), f"{path}.port.number", errors)
        protocol = str(port.get("protocol", "")).upper()
        if protocol not in PROTOCOLS:
            errors.add(f"{path}.port.protocol", f"unrecognized protocol {port.get('protocol')!r}")
        hosts = server.get("hosts") or []
        if not hosts:
            errors.add(f"{path}.hosts", "server config must contain at least one host")
        for index, host in enumerate(hosts):
            _host(str(host).split("/", 1)[-1], f"{path}.hosts[{index}]", errors)
        tls = server.get("tls")
        if protocol in TLS_PROTOCOLS and not tls:
            errors.add(path, "server must have TLS settings for HTTPS/TLS protocols")
        elif tls and protocol not in TLS_PROTOCOLS and set(tls) - {"httpsRedirect"}:
            errors.add(path, "server cannot have TLS settings for plain text HTTP ports")


# -- ServiceEntry and Sidecar ------------------------------------------------------


def _service_entry(spec: Obj, errors: Errors) -> None:
    hosts = spec.get("hosts") or []
    if not hosts:
        errors.add("hosts", "service entry must have at least one host")
    resolution = spec.get("resolution", "NONE")
    for index, host in enumerate(hosts):
        _host(host, f"hosts[{index}]", errors)
        if resolution in ("DNS", "DNS_ROUND_ROBIN") and str(host).startswith("*"):
            errors.add(f"hosts[{index}]",
                       f"wildcard host {host} is not allowed with DNS resolution")  # fmt: skip
    if resolution not in RESOLUTIONS:
        errors.add("resolution", f"unknown resolution {resolution!r}")
    names: set[str] = set()
    for path, port in _items(spec.get("ports"), "ports", errors):
        _port_number(port.get("number"), f"{path}.number", errors)
        if str(port.get("protocol", "")).upper() not in PROTOCOLS:
            errors.add(f"{path}.protocol", f"unrecognized protocol {port.get('protocol')!r}")
        if port.get("name") in names:
            errors.add(f"{path}.name", f"port name {port['name']!r} already defined")
        names.add(port.get("name", ""))
    endpoints = list(_items(spec.get("endpoints"), "endpoints", errors))
    if resolution == "STATIC" and not endpoints and not spec.get("workloadSelector"):
        errors.add("endpoints", "endpoints must be provided if service entry resolution "
                   "mode is static")  # fmt: skip
    if resolution == "NONE" and endpoints:
        errors.add("endpoints", "no endpoints should be provided for resolution type none")
    for path, endpoint in endpoints:
        address = str(endpoint.get("address", ""))
        if resolution == "STATIC":
            try:
                ipaddress.ip_address(address)
            except ValueError:
                errors.add(f"{path}.address", f"endpoint address {address!r} is not a valid IP")
        else:
            _host(address, f"{path}.address", errors)
        for name, number in (endpoint.get("ports") or {}).items():
            _port_number(number, f"{path}.ports.{name}", errors)


def _sidecar(spec: Obj, errors: Errors) -> None:
    egress = list(_items(spec.get("egress"), "egress", errors))
    if not egress:
        errors.add("egress", "sidecar: missing egress")
    for path, listener in egress:
        hosts = listener.get("hosts") or []
        if not hosts:
            errors.add(f"{path}.hosts", "sidecar: egress listener must contain at least one host")
        for index, host in enumerate(hosts):
            namespace, _, name = str(host).partition("/")
            if not name:
                message = f"sidecar: host {host!r} must be of the form namespace/dnsName"
                errors.add(f"{path}.hosts[{index}]", message)
            elif namespace not in ("*", ".", "~") and not _DNS_LABEL.match(namespace):
                errors.add(f"{path}.hosts[{index}]", f"sidecar: invalid namespace {namespace!r}")
            elif name != "*":
                _host(name, f"{path}.hosts[{index}]", errors)


# -- security.istio.io -------------------------------------------------------------


def _peer_authentication(spec: Obj, errors: Errors) -> None:
    levels = spec.get("portLevelMtls") or {}
    if levels and not (spec.get("selector") or {}).get("matchLabels"):
        errors.add("portLevelMtls", "portLevelMtls requires selector")
    for port in levels:
        number = int(port) if str(port).isdigit() else port
        _port_number(number, f"portLevelMtls[{port}]", errors)


def _request_authentication(spec: Obj, errors: Errors) -> None:
    issuers: set[str] = set()
    for path, rule in _items(spec.get("jwtRules"), "jwtRules", errors):
        issuer = rule.get("issuer")
        if not issuer:
            errors.add(f"{path}.issuer", "issuer must be set")
        elif issuer in issuers:
            errors.add(f"{path}.issuer", f"jwtRule issuer {issuer} is used more than once")
        issuers.add(str(issuer))
        uri = str(rule.get("jwksUri", ""))
        if uri and not uri.startswith(("http://", "https://")):
            errors.add(f"{path}.jwksUri", f"invalid jwksUri {uri!r}: must be http or https")
        if rule.get("jwks") and uri:
            errors.add(path, "only one of jwks or jwksUri may be set")
        for header_path, header in _items(rule.get("fromHeaders"), f"{path}.fromHeaders", errors):
            if not header.get("name"):
                errors.add(header_path, "location header name must be set")


def _authorization_policy(spec: Obj, errors: Errors) -> None:
    action = spec.get("action", "ALLOW")
    if action == "CUSTOM":
        errors.add("action", "CUSTOM action is not supported by this mesh (no ext_authz provider)")
    for path, rule in _items(spec.get("rules"), "rules", errors):
        for from_path, source in _items(rule.get("from"), f"{path}.from", errors):
            if not source.get("source"):
                errors.add(from_path, "`from.source` must not be empty")
            for index, block in enumerate((source.get("source") or {}).get("ipBlocks") or []):
                _cidr(block, f"{from_path}.source.ipBlocks[{index}]", errors)
        for to_path, target in _items(rule.get("to"), f"{path}.to", errors):
            if not target.get("operation"):
                errors.add(to_path, "`to.operation` must not be empty")
            for port in (target.get("operation") or {}).get("ports") or []:
                if not str(port).isdigit() or not 1 <= int(port) <= 65535:
                    errors.add(f"{to_path}.operation.ports", f"invalid port {port!r}")
        for when_path, condition in _items(rule.get("when"), f"{path}.when", errors):
            key = str(condition.get("key", ""))
            if condition_builder(key) is None:
                errors.add(f"{when_path}.key", f"unknown attribute ({key})")
            if not condition.get("values") and not condition.get("notValues"):
                errors.add(when_path, f"at least one of values or notValues must be set for key "
                           f"{key}")  # fmt: skip


def _cidr(value: Any, path: str, errors: Errors) -> None:
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        errors.add(path, f"invalid ip address or CIDR range: {value}")


VALIDATORS: dict[str, Callable[[Obj, Errors], None]] = {
    "VirtualService": _virtual_service,
    "DestinationRule": _destination_rule,
    "Gateway": _gateway,
    "ServiceEntry": _service_entry,
    "Sidecar": _sidecar,
    "PeerAuthentication": _peer_authentication,
    "RequestAuthentication": _request_authentication,
    "AuthorizationPolicy": _authorization_policy,
}
