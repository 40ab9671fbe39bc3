"""RequestAuthentication to Envoy's jwt_authn filter: end-user tokens checked at the workload.

Every issuer named by a policy selecting the workload becomes a provider;
a request with a token none of them verifies gets 401, a request without
one passes (an AuthorizationPolicy on ``requestPrincipals`` is how a token
is made required), as Istio behaves. Verified claims are left in the
request's metadata for AuthorizationPolicy to match.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from mesh_runtime.pilot.authz import JWT_FILTER, PAYLOAD
from mesh_runtime.pilot.clusters import cluster_name
from mesh_runtime.pilot.model import MeshModel, Workload, fqdn

Obj = dict[str, Any]
JWT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"


def jwt_filter(model: MeshModel, workload: Workload) -> Obj | None:
    providers: Obj = {}
    for policy in model.policies("RequestAuthentication", workload):
        where = policy["metadata"].get("namespace", "default")
        for index, rule in enumerate(policy.get("spec", {}).get("jwtRules") or []):
            name = f"{where}/{policy['metadata']['name']}/{index}"
            providers[name] = _provider(rule, where)
    if not providers:
        return None
    requirements: list[Obj] = [{"provider_name": name} for name in providers] + [
        {"allow_missing": {}}
    ]
    return {
        "name": JWT_FILTER,
        "typed_config": {
            "@type": JWT_TYPE,
            "providers": providers,
            "rules": [{"match": {"prefix": "/"},
                       "requires": {"requires_any": {"requirements": requirements}}}],
        },
    }  # fmt: skip


def _provider(rule: Obj, namespace: str) -> Obj:
    provider: Obj = {
        "issuer": rule.get("issuer", ""),
        "forward": bool(rule.get("forwardOriginalToken", False)),
        "payload_in_metadata": PAYLOAD,
    }
    if rule.get("audiences"):
        provider["audiences"] = list(rule["audiences"])
    if rule.get("jwks"):
        jwks = rule["jwks"]
        provider["local_jwks"] = {
            "inline_string": jwks if isinstance(jwks, str) else json.dumps(jwks)
        }
    elif rule.get("jwksUri"):
        provider["remote_jwks"] = _remote(rule["jwksUri"], namespace)
    if rule.get("fromHeaders"):
        provider["from_headers"] = [
            {"name": h["name"], "value_prefix": h.get("prefix", "")} for h in rule["fromHeaders"]
        ]
    if rule.get("fromParams"):
        provider["from_params"] = list(rule["fromParams"])
    if rule.get("outputPayloadToHeader"):
        provider["forward_payload_header"] = rule["outputPayloadToHeader"]
    return provider


def _remote(uri: str, namespace: str) -> Obj:
    """A jwksUri inside the cluster, fetched by Envoy through the service's own cluster."""
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = fqdn(parts.hostname or "", namespace)
    return {
        "http_uri": {"uri": uri, "cluster": cluster_name(host, port), "timeout": "5s"},
        "cache_duration": "300s",
        "async_fetch": {},
        "retry_policy": {"num_retries": 3},
    }
