"""CustomResourceDefinitions every lab cluster starts with: Istio's config kinds.

The schemas are written for this project from Istio's API reference: the
fields labs use, typed, with the rest kept open
(``x-kubernetes-preserve-unknown-fields``) so any valid Istio YAML applies.
Semantic validation (a route's weights summing to 100...) is the mesh's own
validating webhook's job, as in Istio.
"""

from __future__ import annotations

from typing import Any

from labplatform.clusters.embedded.apiserver.builtin_schemas import (
    arr,
    b,
    i,
    obj,
    s,
    string_map,
)

Schema = dict[str, Any]

NETWORKING_VERSIONS = ("v1", "v1beta1", "v1alpha3")
SECURITY_VERSIONS = ("v1", "v1beta1")

WORKLOAD_SELECTOR = obj(
    "Criteria used to select the specific set of pods/VMs.",
    {"matchLabels": string_map("One or more labels that indicate a specific set of pods/VMs.")},
)
STRING_MATCH = obj(
    "Describes how to match a given string (exact, prefix or regex).",
    {"exact": s(), "prefix": s(), "regex": s()},
)
DESTINATION = obj(
    "Destination indicates the network addressable service to which the request will be sent.",
    {
        "host": s("The name of a service from the service registry."),
        "subset": s("The name of a subset within the service."),
        "port": obj(
            "Specifies the port on the host that is being addressed.",
            {"number": i("Valid port number.")},
        ),
    },
    required=("host",),
)
HTTP_ROUTE = obj(
    "Describes match conditions and actions for routing HTTP/1.1, HTTP2, and gRPC traffic.",
    {
        "name": s("The name assigned to the route for debugging purposes."),
        "match": arr(
            obj(
                "Match conditions to be satisfied for the rule to be activated.",
                {
                    "uri": STRING_MATCH,
                    "method": STRING_MATCH,
                    "authority": STRING_MATCH,
                    "headers": {
                        "type": "object",
                        "additionalProperties": STRING_MATCH,
                        "description": "The header keys must be lowercase.",
                    },
                    "queryParams": {"type": "object", "additionalProperties": STRING_MATCH},
                    "sourceLabels": string_map(
                        "One or more labels that constrain the applicability "
                        "of a rule to source workloads."
                    ),
                    "gateways": arr(s()),
                    "port": i(),
                    "ignoreUriCase": b(),
                },
                open_=True,
            )
        ),
        "route": arr(
            obj(
                "Each routing rule is associated with one or more service versions.",
                {
                    "destination": DESTINATION,
                    "weight": i("Weight specifies the relative proportion of traffic.", 0),
                    "headers": obj("Header manipulation rules.", open_=True),
                },
                required=("destination",),
            )
        ),
        "redirect": obj(
            "A HTTP rule can either return a direct_response, redirect or forward.", open_=True
        ),
        "rewrite": obj("Rewrite HTTP URIs and Authority headers.", open_=True),
        "timeout": s("Timeout for HTTP requests, e.g. 10s."),
        "retries": obj(
            "Retry policy for HTTP requests.",
            {
                "attempts": i("Number of retries to be allowed for a given request.", 0),
                "perTryTimeout": s("Timeout per attempt for a given request."),
                "retryOn": s("Specifies the conditions under which retry takes place."),
            },
            open_=True,
        ),
        "fault": obj(
            "Fault injection policy to apply on HTTP traffic at the client side.",
            {
                "delay": obj(
                    "Delay requests before forwarding.",
                    {
                        "fixedDelay": s("Add a fixed delay before forwarding the request."),
                        "percentage": obj(
                            "Percentage of requests to delay.",
                            {"value": {"type": "number", "format": "double"}},
                        ),
                    },
                    open_=True,
                ),
                "abort": obj(
                    "Abort Http request attempts and return error codes back.",
                    {
                        "httpStatus": i("HTTP status code to use to abort the Http request."),
                        "percentage": obj(
                            "Percentage of requests to abort.",
                            {"value": {"type": "number", "format": "double"}},
                        ),
                    },
                    open_=True,
                ),
            },
        ),
        "mirror": DESTINATION,
        "mirrorPercentage": obj(
            "Percentage of the traffic to be mirrored.",
            {"value": {"type": "number", "format": "double"}},
        ),
        "headers": obj("Header manipulation rules.", open_=True),
        "corsPolicy": obj("Cross-Origin Resource Sharing policy.", open_=True),
    },
    open_=True,
)
TRAFFIC_POLICY = obj(
    "Traffic policies to apply (load balancing policy, connection pool sizes, outlier detection).",
    {
        "loadBalancer": obj("Settings controlling the load balancer algorithms.", open_=True),
        "connectionPool": obj(
            "Settings controlling the volume of connections to an upstream.",
            {
                "tcp": obj(
                    "Settings common to both HTTP and TCP upstream connections.", open_=True
                ),
                "http": obj("HTTP connection pool settings.", open_=True),
            },
        ),
        "outlierDetection": obj("Settings controlling eviction of unhealthy hosts.", open_=True),
        "tls": obj(
            "TLS related settings for connections to the upstream service.",
            {
                "mode": s(
                    "Indicates whether connections to this port should be secured using TLS.",
                    ("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"),
                ),
            },
            open_=True,
        ),
        "portLevelSettings": arr(obj("Traffic policies specific to individual ports.", open_=True)),
    },
)
AGE = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "CreationTimestamp is a timestamp representing the server time when this "
    "object was created.",
}


def _column(name: str, path: str, description: str, type_: str = "string") -> Schema:
    return {"name": name, "type": type_, "jsonPath": path, "description": description}


KINDS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], list[Schema], Schema], ...] = (
    (
        "networking.istio.io",
        "VirtualService",
        "virtualservices",
        ("vs",),
        NETWORKING_VERSIONS,
        [
            _column(
                "Gateways",
                ".spec.gateways",
                "The names of gateways and sidecars that should apply these routes",
            ),
            _column("Hosts", ".spec.hosts", "The destination hosts to which traffic is being sent"),
            AGE,
        ],
        obj(
            "Configuration affecting label/content routing, sni routing, etc.",
            {
                "hosts": arr(s(), "The destination hosts to which traffic is being sent."),
                "gateways": arr(
                    s(), "The names of gateways and sidecars that should apply these routes."
                ),
                "http": arr(HTTP_ROUTE, "An ordered list of route rules for HTTP traffic."),
                "tcp": arr(
                    obj(
                        "Describes match conditions and actions for routing TCP traffic.",
                        open_=True,
                    )
                ),
                "tls": arr(
                    obj(
                        "Describes match conditions and actions for routing unterminated TLS "
                        "traffic.",
                        open_=True,
                    )
                ),
                "exportTo": arr(s()),
            },
        ),
    ),
    (
        "networking.istio.io",
        "DestinationRule",
        "destinationrules",
        ("dr",),
        NETWORKING_VERSIONS,
        [_column("Host", ".spec.host", "The name of a service from the service registry"), AGE],
        obj(
            "Configuration affecting load balancing, outlier detection, etc.",
            {
                "host": s("The name of a service from the service registry."),
                "trafficPolicy": TRAFFIC_POLICY,
                "subsets": arr(
                    obj(
                        "A subset of endpoints of a service.",
                        {
                            "name": s("Name of the subset."),
                            "labels": string_map(
                                "Labels apply a filter over the endpoints of a service."
                            ),
                            "trafficPolicy": TRAFFIC_POLICY,
                        },
                        required=("name",),
                    )
                ),
                "exportTo": arr(s()),
                "workloadSelector": WORKLOAD_SELECTOR,
            },
            required=("host",),
        ),
    ),
    (
        "networking.istio.io",
        "Gateway",
        "gateways",
        ("gw",),
        NETWORKING_VERSIONS,
        [AGE],
        obj(
            "Configuration affecting edge load balancer.",
            {
                "selector": string_map(
                    "One or more labels that indicate a specific set of pods/VMs "
                    "on which this gateway configuration should be applied."
                ),
                "servers": arr(
                    obj(
                        "Server describes the properties of the proxy on a given load "
                        "balancer port.",
                        {
                            "port": obj(
                                "The Port on which the proxy listens for incoming connections.",
                                {
                                    "number": i("A valid non-negative integer port number."),
                                    "name": s("Label assigned to the port."),
                                    "protocol": s("The protocol exposed on the port."),
                                },
                            ),
                            "hosts": arr(s(), "One or more hosts exposed by this gateway."),
                            "tls": obj("Set of TLS related options.", open_=True),
                            "name": s(),
                        },
                        required=("port", "hosts"),
                    )
                ),
            },
        ),
    ),
    (
        "networking.istio.io",
        "ServiceEntry",
        "serviceentries",
        ("se",),
        NETWORKING_VERSIONS,
        [
            _column("Hosts", ".spec.hosts", "The hosts associated with the ServiceEntry"),
            _column(
                "Location",
                ".spec.location",
                "Whether the service is external to the mesh or "
                "part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)",
            ),
            _column(
                "Resolution",
                ".spec.resolution",
                "Service resolution mode for the hosts (NONE, STATIC, or DNS)",
            ),
            AGE,
        ],
        obj(
            "Configuration affecting service registry.",
            {
                "hosts": arr(s(), "The hosts associated with the ServiceEntry."),
                "addresses": arr(s()),
                "ports": arr(
                    obj(
                        "ServicePort describes the properties of a specific port of a service.",
                        {"number": i(), "protocol": s(), "name": s(), "targetPort": i()},
                    )
                ),
                "location": s(
                    "Specify whether the service should be considered external to the mesh "
                    "or part of the mesh.",
                    ("MESH_EXTERNAL", "MESH_INTERNAL"),
                ),
                "resolution": s(
                    "Service resolution mode for the hosts.",
                    ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"),
                ),
                "endpoints": arr(obj("WorkloadEntry", open_=True)),
                "exportTo": arr(s()),
            },
            required=("hosts",),
        ),
    ),
    (
        "networking.istio.io",
        "Sidecar",
        "sidecars",
        (),
        NETWORKING_VERSIONS,
        [AGE],
        obj(
            "Configuration affecting network reachability of a sidecar.",
            {
                "workloadSelector": WORKLOAD_SELECTOR,
                "ingress": arr(obj("IstioIngressListener", open_=True)),
                "egress": arr(obj("IstioEgressListener", {"hosts": arr(s())}, open_=True)),
                "outboundTrafficPolicy": obj(
                    "Configuration for the outbound traffic policy.", open_=True
                ),
            },
        ),
    ),
    (
        "security.istio.io",
        "PeerAuthentication",
        "peerauthentications",
        ("pa",),
        SECURITY_VERSIONS,
        [
            _column(
                "Mode", ".spec.mtls.mode", "Defines the mTLS mode used for peer authentication."
            ),
            AGE,
        ],
        obj(
            "Peer authentication configuration for workloads.",
            {
                "selector": WORKLOAD_SELECTOR,
                "mtls": obj(
                    "Mutual TLS settings for workload.",
                    {
                        "mode": s(
                            "Defines the mTLS mode used for peer authentication.",
                            ("UNSET", "DISABLE", "PERMISSIVE", "STRICT"),
                        ),
                    },
                ),
                "portLevelMtls": {
                    "type": "object",
                    "description": "Port specific mutual TLS settings.",
                    "additionalProperties": obj(
                        "mTLS settings for one port.",
                        {"mode": s(enum=("UNSET", "DISABLE", "PERMISSIVE", "STRICT"))},
                    ),
                },
            },
        ),
    ),
    (
        "security.istio.io",
        "RequestAuthentication",
        "requestauthentications",
        ("ra",),
        SECURITY_VERSIONS,
        [AGE],
        obj(
            "Request authentication configuration for workloads.",
            {
                "selector": WORKLOAD_SELECTOR,
                "jwtRules": arr(
                    obj(
                        "JSON Web Token (JWT) token format for authentication.",
                        {
                            "issuer": s("Identifies the issuer that issued the JWT."),
                            "audiences": arr(s()),
                            "jwksUri": s(
                                "URL of the provider's public key set that signs the JWT."
                            ),
                            "jwks": s(
                                "JSON Web Key Set of public keys to validate signature of the JWT."
                            ),
                            "fromHeaders": arr(
                                obj("Header the JWT is read from.", {"name": s(), "prefix": s()})
                            ),
                            "fromParams": arr(s()),
                            "outputPayloadToHeader": s("The header the payload is forwarded in."),
                            "forwardOriginalToken": b(
                                "Whether the original token is forwarded upstream."
                            ),
                        },
                        required=("issuer",),
                        open_=True,
                    )
                ),
            },
        ),
    ),
    (
        "security.istio.io",
        "AuthorizationPolicy",
        "authorizationpolicies",
        ("ap",),
        SECURITY_VERSIONS,
        [_column("Action", ".spec.action", "The operation to take."), AGE],
        obj(
            "Configuration for access control on workloads.",
            {
                "selector": WORKLOAD_SELECTOR,
                "action": s(
                    "The action to take if the request is matched with the rules.",
                    ("ALLOW", "DENY", "AUDIT", "CUSTOM"),
                ),
                "rules": arr(
                    obj(
                        "A list of rules to match the request.",
                        {
                            "from": arr(
                                obj(
                                    "The source of a request.",
                                    {"source": obj("Source", open_=True)},
                                )
                            ),
                            "to": arr(
                                obj(
                                    "The operation of a request.",
                                    {"operation": obj("Operation", open_=True)},
                                )
                            ),
                            "when": arr(
                                obj(
                                    "A condition on request attributes.",
                                    {"key": s(), "values": arr(s()), "notValues": arr(s())},
                                    required=("key",),
                                )
                            ),
                        },
                    )
                ),
                "provider": obj(
                    "Specifies detailed configuration of the CUSTOM action.", open_=True
                ),
            },
        ),
    ),
)


def _crd(
    group: str,
    kind: str,
    plural: str,
    short: tuple[str, ...],
    versions: tuple[str, ...],
    columns: list[Schema],
    spec: Schema,
) -> Schema:
    area = group.split(".")[0]
    schema = obj(
        f"{kind}: see https://istio.io/latest/docs/reference/config/",
        {"spec": spec, "status": obj("Status of the resource, written by the mesh.", open_=True)},
    )
    names: Schema = {
        "plural": plural,
        "singular": kind.lower(),
        "kind": kind,
        "listKind": f"{kind}List",
        "categories": ["istio-io", f"{area}-istio-io"],
    }
    if short:
        names["shortNames"] = list(short)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "labels": {"app": "istio-pilot", "istio": area},
        },
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": index == 0,
                    "schema": {"openAPIV3Schema": schema},
                    "additionalPrinterColumns": columns,
                    "subresources": {"status": {}},
                }
                for index, version in enumerate(versions)
            ],
        },
    }


def istio_crds() -> list[Schema]:
    """The CRDs of Istio's networking and security APIs."""
    return [_crd(*kind) for kind in KINDS]


__all__ = ["istio_crds"]
