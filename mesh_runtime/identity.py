"""Workload identity as Istio spells it: SPIFFE IDs, and where a proxy keeps its credentials.

A workload is its service account: ``spiffe://cluster.local/ns/<ns>/sa/<sa>``
in certificates, ``cluster.local/ns/<ns>/sa/<sa>`` in AuthorizationPolicy
principals. citadel signs these, the agent asks for them, and pilot writes
them into the checks Envoy makes on either end of a connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRUST_DOMAIN = "cluster.local"
# Envoy reads the proxy's certificate and the mesh root from files the agent
# rewrites on rotation (SDS from a watched directory), under Istio's names.
SDS_DIRECTORY = "/etc/istio/proxy/sds"
CERTIFICATE_SECRET = "default"
ROOT_SECRET = "ROOTCA"
# What the agent presents to citadel: the pod's projected token for this audience,
# and the root it trusts citadel's serving certificate with.
TOKEN_AUDIENCE = "istio-ca"
TOKEN_PATH = "/var/run/secrets/tokens/istio-token"
ROOT_PATH = "/var/run/secrets/istio/root-cert.pem"
ROOT_CONFIGMAP = "istio-ca-root-cert"
_SPIFFE = re.compile(r"^spiffe://([^/]+)/ns/([^/]+)/sa/([^/]+)$")


def spiffe_id(namespace: str, service_account: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}"


def principal(namespace: str, service_account: str) -> str:
    """The form AuthorizationPolicy's ``principals`` use (no scheme)."""
    return spiffe_id(namespace, service_account).removeprefix("spiffe://")


def parse_spiffe_id(uri: str) -> tuple[str, str] | None:
    """(namespace, service account) of a SPIFFE ID in this trust domain, else None."""
    match = _SPIFFE.match(uri)
    if match is None or match.group(1) != TRUST_DOMAIN:
        return None
    return match.group(2), match.group(3)


def sds_config(name: str) -> dict[str, object]:
    """How Envoy finds secret ``name``: its file in the SDS directory, reloaded on change."""
    return {
        "name": name,
        "sds_config": {
            "path_config_source": {
                "path": f"{SDS_DIRECTORY}/{name}.json",
                "watched_directory": {"path": SDS_DIRECTORY},
            },
            "resource_api_version": "V3",
        },
    }


@dataclass(frozen=True)
class Proxy:
    """A proxy as its Envoy node id names it, in Istio's form:
    ``sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`` (``router`` for a gateway).

    pilot builds its configuration from it (the namespace decides which short names
    work); mixer attributes its reports with it.
    """

    id: str
    kind: str  # sidecar or router
    ip: str
    pod: str
    namespace: str

    @classmethod
    def from_node_id(cls, node_id: str) -> Proxy:
        parts = node_id.split("~")
        if len(parts) == 4:
            pod, _, namespace = parts[2].partition(".")
            return cls(node_id, parts[0], parts[1], pod, namespace or "default")
        return cls(node_id, "sidecar", "", "", "default")
