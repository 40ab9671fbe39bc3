"""From the builders' dicts to typed xDS resources, and one proxy's snapshot of them.

The builders write Envoy's JSON shape (readable, and what ``meshctl
proxy-config`` prints); here it is parsed into the protobuf types, which
also checks every field name, before anything is sent. A snapshot carries,
per type, the resources and a version that is a hash of their content, so
an unchanged type is never pushed again. Most resources are the same for
every proxy and from one push to the next, so each distinct one is parsed
and packed once (:func:`pack` remembers them by content).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# Every message type a builder names with "@type" must be imported before parsing.
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.config.trace.v3 import zipkin_pb2  # noqa: F401
from envoy.extensions.access_loggers.grpc.v3 import als_pb2  # noqa: F401
from envoy.extensions.filters.http.cors.v3 import cors_pb2  # noqa: F401
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2  # noqa: F401
from envoy.extensions.filters.http.fault.v3 import fault_pb2  # noqa: F401
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2  # noqa: F401
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2  # noqa: F401
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2  # noqa: F401
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import (  # noqa: F401
    http_connection_manager_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as tcp_rbac_pb2  # noqa: F401
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2  # noqa: F401
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2  # noqa: F401
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2  # noqa: F401
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2, tls_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message

Obj = dict[str, Any]

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
# The order a push goes in: clusters before the endpoints that warm them,
# listeners before the routes and secrets (a gateway's certificates) they name.
PUSH_ORDER = (CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET)
SHORT_NAMES = {CLUSTER: "CDS", ENDPOINT: "EDS", LISTENER: "LDS", ROUTE: "RDS", SECRET: "SDS"}
_MESSAGES: dict[str, type[Message]] = {
    CLUSTER: cluster_pb2.Cluster,
    ENDPOINT: endpoint_pb2.ClusterLoadAssignment,
    LISTENER: listener_pb2.Listener,
    ROUTE: route_pb2.RouteConfiguration,
    SECRET: secret_pb2.Secret,
}
_NAME_FIELD = {CLUSTER: "name", ENDPOINT: "cluster_name", LISTENER: "name", ROUTE: "name",
               SECRET: "name"}  # fmt: skip


def parse(type_url: str, resource: Obj) -> Message:
    """The typed message; a builder's mistake raises ``json_format.ParseError`` here."""
    return json_format.ParseDict(resource, _MESSAGES[type_url]())


def pack(type_url: str, resource: Obj) -> any_pb2.Any:
    """``resource`` parsed and packed, shared by every snapshot that holds the same one.

    Callers must not change what they get.
    """
    return _pack(type_url, json.dumps(resource, sort_keys=True, separators=(",", ":")))


@functools.lru_cache(maxsize=20_000)
def _pack(type_url: str, text: str) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(parse(type_url, json.loads(text)))
    return packed


@dataclass(frozen=True)
class TypedResources:
    """One type's resources by name, packed, with a content version."""

    by_name: dict[str, any_pb2.Any] = field(default_factory=dict)
    source: dict[str, Obj] = field(default_factory=dict)  # as built, for debug endpoints

    @classmethod
    def build(cls, type_url: str, resources: list[Obj]) -> TypedResources:
        by_name, source = {}, {}
        for resource in resources:
            name = resource[_NAME_FIELD[type_url]]
            by_name[name], source[name] = pack(type_url, resource), resource
        return cls(by_name, source)

    def select(self, names: set[str]) -> list[any_pb2.Any]:
        """All resources (wildcard, for an empty ``names``) or those named, in name order."""
        chosen = sorted(self.by_name) if not names else sorted(names & set(self.by_name))
        return [self.by_name[name] for name in chosen]

    def version(self, names: set[str]) -> str:
        digest = hashlib.sha256()
        for resource in self.select(names):
            digest.update(resource.SerializeToString(deterministic=True))
        return digest.hexdigest()[:16]


Snapshot = dict[str, TypedResources]  # by type URL
