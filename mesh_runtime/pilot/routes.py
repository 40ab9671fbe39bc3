"""VirtualService to Envoy routes: one route configuration per service port, as Istio builds them.

Every HTTP service port gets a virtual host per service (named ``host:port``,
answering to the names a client may use: the full name, ``name.namespace``,
the short name within the proxy's own namespace, the cluster IP, each with
and without the port). Without a VirtualService a host has one route to its
cluster with Istio's defaults (no timeout, two retries on connection
failures and 503s). With one, each ``http`` entry becomes routes in order:
one per ``match`` (a route matches when all of its conditions do; an entry
matches when any of its routes does), carrying the entry's destinations and
weights, fault injection, retries, timeout, rewrite or redirect, header
changes, CORS policy and mirroring. A match with ``sourceLabels`` or
``sourceNamespace`` only exists in the routes of proxies it names, which is
how Istio scopes a rule to the calling workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.durations import envoy_duration, parse_duration
from mesh_runtime.pilot.clusters import cluster_name
from mesh_runtime.pilot.model import MeshModel, Service, fqdn

Obj = dict[str, Any]
FAULT_FILTER = "envoy.filters.http.fault"
FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
CORS_FILTER = "envoy.filters.http.cors"
CORS_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
REDIRECT_CODES = {301: "MOVED_PERMANENTLY", 302: "FOUND", 303: "SEE_OTHER",
                  307: "TEMPORARY_REDIRECT", 308: "PERMANENT_REDIRECT"}  # fmt: skip
# Istio's retry policy where a VirtualService says nothing.
DEFAULT_RETRIES: Obj = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "retriable_status_codes": [503],
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
            },
        }
    ],
    "host_selection_retry_max_attempts": "5",
}


@dataclass(frozen=True)
class Source:
    """The proxy the routes are for, as ``sourceLabels`` and ``sourceNamespace`` see it."""

    namespace: str
    labels: dict[str, str]

    def matches(self, match: Obj) -> bool:
        labels = match.get("sourceLabels") or {}
        namespace = match.get("sourceNamespace")
        return labels.items() <= self.labels.items() and namespace in (None, self.namespace)


def build_routes(model: MeshModel, source: Source) -> list[Obj]:
    """One RouteConfiguration per HTTP service port number, named by the number."""
    by_port: dict[int, list[Obj]] = {}
    for service in sorted(model.services.values(), key=lambda s: s.host):
        for port in service.ports:
            if port.protocol == "HTTP":
                host = _virtual_host(model, service, port.port, source)
                by_port.setdefault(port.port, []).append(host)
    return [
        {"name": str(port), "virtual_hosts": hosts, "validate_clusters": False}
        for port, hosts in sorted(by_port.items())
    ]


def _virtual_host(model: MeshModel, service: Service, port: int, source: Source) -> Obj:
    names = [service.host]
    if service.kubernetes:
        names += [f"{service.name}.{service.namespace}", f"{service.name}.{service.namespace}.svc"]
        if service.namespace == source.namespace:
            names.append(service.name)
    names += [address for address in service.addresses if address != "None"]
    domains = [d for name in names for d in (name, f"{name}:{port}")]
    rule = model.virtual_service(service.host)
    routes = (
        http_routes(rule, port, source)
        if rule is not None
        else [_default_route(cluster_name(service.host, port))]
    )
    for route in finish_routes(model, routes):
        _hash_policy(model, route)
    return {"name": f"{service.host}:{port}", "domains": domains, "routes": routes}


def finish_routes(model: MeshModel, routes: list[Obj]) -> list[Obj]:
    """Destinations named without a port go to their service's only port, as Istio allows."""
    for route in routes:
        action = route.get("route") or {}
        if "cluster" in action:
            action["cluster"] = _service_port(model, action["cluster"])
        for weighted in (action.get("weighted_clusters") or {}).get("clusters", []):
            weighted["name"] = _service_port(model, weighted["name"])
        for mirror in action.get("request_mirror_policies") or []:
            mirror["cluster"] = _service_port(model, mirror["cluster"])
    return routes


def _service_port(model: MeshModel, cluster: str) -> str:
    direction, port, subset, host = cluster.split("|")
    service = model.services.get(host)
    if service is None or service.port(int(port)) is not None or len(service.ports) != 1:
        return cluster
    return f"{direction}|{service.ports[0].port}|{subset}|{host}"


def _hash_policy(model: MeshModel, route: Obj) -> None:
    """Sticky sessions: a DestinationRule's consistentHash becomes the route's hash policy.

    The cluster the route sends to (the first, when weighted) decides, with a
    subset's own policy before the rule's, as Istio picks it.
    """
    action = route.get("route")
    if not action:
        return
    cluster = action.get("cluster") or action["weighted_clusters"]["clusters"][0]["name"]
    _, _, subset, host = cluster.split("|")
    rule = model.destination_rule(host)
    if rule is None:
        return
    spec = rule.get("spec", {})
    policies = [s.get("trafficPolicy") or {} for s in spec.get("subsets") or []
                if s.get("name") == subset] + [spec.get("trafficPolicy") or {}]  # fmt: skip
    for policy in policies:
        hashing = (policy.get("loadBalancer") or {}).get("consistentHash")
        if hashing:
            action["hash_policy"] = [_hash(hashing)]
            return


def _hash(hashing: Obj) -> Obj:
    if "httpHeaderName" in hashing:
        return {"header": {"header_name": hashing["httpHeaderName"]}}
    if "httpCookie" in hashing:
        cookie = hashing["httpCookie"]
        return {"cookie": {"name": cookie["name"], "ttl": envoy_duration(cookie.get("ttl", "0s")),
                           "path": cookie.get("path", "/")}}  # fmt: skip
    if "httpQueryParameterName" in hashing:
        return {"query_parameter": {"name": hashing["httpQueryParameterName"]}}
    return {"connection_properties": {"source_ip": True}}


def _default_route(cluster: str) -> Obj:
    return {
        "name": "default",
        "match": {"prefix": "/"},
        "route": {"cluster": cluster, "timeout": "0s", "retry_policy": DEFAULT_RETRIES},
    }


def http_routes(rule: Obj, port: int, source: Source) -> list[Obj]:
    """The Envoy routes of one VirtualService, for traffic to ``port`` from ``source``."""
    namespace = rule["metadata"].get("namespace", "default")
    routes = []
    for index, entry in enumerate(rule.get("spec", {}).get("http") or []):
        matches = [
            m for m in entry.get("match") or [{}] if port_matches(m, port) and source.matches(m)
        ]
        for match in matches:
            route: Obj = {
                "name": entry.get("name") or f"{rule['metadata']['name']}.{index}",
                "match": route_match(match),
            }
            route.update(_action(entry, namespace, port, match))
            routes.append(route)
    return routes


def port_matches(match: Obj, port: int) -> bool:
    return "port" not in match or int(match["port"]) == port


def route_match(match: Obj) -> Obj:
    result: Obj = {"prefix": "/"}
    uri = match.get("uri")
    if uri:
        kind, value = next(iter(uri.items()))
        result = {"exact": {"path": value}, "prefix": {"prefix": value},
                  "regex": {"safe_regex": {"regex": value}}}[kind]  # fmt: skip
        if match.get("ignoreUriCase"):
            result["case_sensitive"] = False
    headers = [
        {"name": name, "string_match": _string_match(condition)}
        for name, condition in (match.get("headers") or {}).items()
    ]
    if match.get("method"):
        headers.append({"name": ":method", "string_match": _string_match(match["method"])})
    if match.get("authority"):
        headers.append({"name": ":authority", "string_match": _string_match(match["authority"])})
    if headers:
        result["headers"] = headers
    params = [
        {"name": name, "string_match": _string_match(condition)}
        for name, condition in (match.get("queryParams") or {}).items()
    ]
    if params:
        result["query_parameters"] = params
    return result


def _string_match(condition: Obj) -> Obj:
    kind, value = next(iter(condition.items()))
    return {"exact": {"exact": value}, "prefix": {"prefix": value},
            "regex": {"safe_regex": {"regex": value}}}[kind]  # fmt: skip


def _action(entry: Obj, namespace: str, port: int, match: Obj) -> Obj:
    result: Obj = {}
    if "redirect" in entry:
        redirect = entry["redirect"]
        action: Obj = {"response_code": REDIRECT_CODES.get(redirect.get("redirectCode", 301),
                                                           "MOVED_PERMANENTLY")}  # fmt: skip
        if "uri" in redirect:
            action["path_redirect"] = redirect["uri"]
        if "authority" in redirect:
            action["host_redirect"] = redirect["authority"]
        result["redirect"] = action
    elif "directResponse" in entry:
        response = entry["directResponse"]
        body = (response.get("body") or {}).get("string")
        result["direct_response"] = {"status": response["status"]} | (
            {"body": {"inline_string": body}} if body is not None else {}
        )
    else:
        result["route"] = _forward(entry, namespace, port, match)
    per_filter = {
        FAULT_FILTER: _fault(entry.get("fault")),
        CORS_FILTER: _cors(entry.get("corsPolicy")),
    }
    if any(per_filter.values()):
        result["typed_per_filter_config"] = {k: v for k, v in per_filter.items() if v}
    headers = entry.get("headers") or {}
    for direction in ("request", "response"):
        changes = headers.get(direction) or {}
        added = [
            {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for k, v in (changes.get("set") or {}).items()
        ] + [
            {"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
            for k, v in (changes.get("add") or {}).items()
        ]
        if added:
            result[f"{direction}_headers_to_add"] = added
        if changes.get("remove"):
            result[f"{direction}_headers_to_remove"] = list(changes["remove"])
    return result


def destination_cluster(destination: Obj, namespace: str, port: int) -> str:
    """The cluster a route destination names (its port defaults to the one called)."""
    host = fqdn(destination["host"], namespace)
    number = (destination.get("port") or {}).get("number", port)
    return cluster_name(host, int(number), destination.get("subset", ""))


def _forward(entry: Obj, namespace: str, port: int, match: Obj) -> Obj:
    destinations = entry.get("route") or []
    route: Obj
    if len(destinations) == 1:
        route = {"cluster": destination_cluster(destinations[0]["destination"], namespace, port)}
    else:
        route = {
            "weighted_clusters": {
                "clusters": [
                    {
                        "name": destination_cluster(d["destination"], namespace, port),
                        "weight": int(d.get("weight", 0)),
                    }
                    for d in destinations
                    if int(d.get("weight", 0)) > 0 or len(destinations) == 1
                ]
            }
        }
    route["timeout"] = envoy_duration(entry.get("timeout", "0s"))
    retries = entry.get("retries")
    if retries is None:
        route["retry_policy"] = DEFAULT_RETRIES
    elif int(retries.get("attempts", 0)) > 0:
        policy: Obj = {
            **DEFAULT_RETRIES,
            "num_retries": int(retries["attempts"]),
            "retry_on": retries.get("retryOn", DEFAULT_RETRIES["retry_on"]),
        }
        if "perTryTimeout" in retries:
            policy["per_try_timeout"] = envoy_duration(retries["perTryTimeout"])
        route["retry_policy"] = policy
    rewrite = entry.get("rewrite") or {}
    if "uri" in rewrite:
        uri = match.get("uri") or {}
        if "prefix" in uri or not uri:
            route["prefix_rewrite"] = rewrite["uri"]
        else:
            route["regex_rewrite"] = {"pattern": {"regex": ".*"}, "substitution": rewrite["uri"]}
    if "authority" in rewrite:
        route["host_rewrite_literal"] = rewrite["authority"]
    mirror = entry.get("mirror")
    if mirror:
        percent = (entry.get("mirrorPercentage") or {}).get("value", 100.0)
        route["request_mirror_policies"] = [
            {
                "cluster": destination_cluster(mirror, namespace, port),
                "runtime_fraction": {"default_value": _fraction(percent)},
            }
        ]
    return route


def _fault(fault: Obj | None) -> Obj | None:
    if not fault:
        return None
    config: Obj = {"@type": FAULT_TYPE}
    delay = fault.get("delay")
    if delay:
        config["delay"] = {
            "fixed_delay": envoy_duration(delay["fixedDelay"]),
            "percentage": _fraction(_percent(delay)),
        }
    abort = fault.get("abort")
    if abort:
        config["abort"] = {
            "http_status": int(abort["httpStatus"]),
            "percentage": _fraction(_percent(abort)),
        }
    return config


def _cors(cors: Obj | None) -> Obj | None:
    """Istio's corsPolicy as Envoy's per-route CORS policy (origins match exactly by default)."""
    if not cors:
        return None
    origins = [_string_match(origin) for origin in cors.get("allowOrigins") or []]
    origins += [{"exact": origin} for origin in cors.get("allowOrigin") or []]  # deprecated form
    policy: Obj = {"@type": CORS_TYPE, "allow_origin_string_match": origins}
    for field, key in (("allowMethods", "allow_methods"), ("allowHeaders", "allow_headers"),
                       ("exposeHeaders", "expose_headers")):  # fmt: skip
        if cors.get(field):
            policy[key] = ",".join(cors[field])
    if "maxAge" in cors:
        policy["max_age"] = str(int(parse_duration(cors["maxAge"])))
    if "allowCredentials" in cors:
        policy["allow_credentials"] = bool(cors["allowCredentials"])
    return policy


def _percent(fault: Obj) -> float:
    """``percentage.value`` (0-100, fractions allowed), or the deprecated ``percent``."""
    if "percentage" in fault:
        return float(fault["percentage"].get("value", 0))
    return float(fault.get("percent", 100))


def _fraction(percent: float) -> Obj:
    return {"numerator": round(percent * 10_000), "denominator": "MILLION"}
