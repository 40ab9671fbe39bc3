"""The bundled Istio CRDs: valid definitions, Istio's names, and schemas Istio's YAML fits."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from labplatform.clusters.embedded.apiserver.crds import istio_crds

NETWORKING = ["v1", "v1alpha3", "v1beta1"]
SECURITY = ["v1", "v1beta1"]
# kind: (group, short names, served versions, printer columns before AGE)
ISTIO_KINDS = {
    "VirtualService": ("networking.istio.io", ["vs"], NETWORKING, ["Gateways", "Hosts"]),
    "DestinationRule": ("networking.istio.io", ["dr"], NETWORKING, ["Host"]),
    "Gateway": ("networking.istio.io", ["gw"], NETWORKING, None),
    "ServiceEntry": (
        "networking.istio.io",
        ["se"],
        NETWORKING,
        ["Hosts", "Location", "Resolution"],
    ),
    "Sidecar": ("networking.istio.io", [], NETWORKING, None),
    "PeerAuthentication": ("security.istio.io", ["pa"], SECURITY, ["Mode"]),
    "RequestAuthentication": ("security.istio.io", ["ra"], SECURITY, None),
    "AuthorizationPolicy": ("security.istio.io", ["ap"], SECURITY, ["Action"]),
}

SAMPLES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
    - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 50
    - destination:
        host: reviews
        subset: v3
      weight: 50
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    fault:
      delay:
        percentage:
          value: 100.0
        fixedDelay: 7s
    route:
    - destination:
        host: ratings
        subset: v1
  - route:
    - destination:
        host: ratings
        subset: v1
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: gateway-error,connect-failure
    timeout: 10s
    mirror:
      host: ratings
      subset: v2
    mirrorPercentage:
      value: 50
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      simple: RANDOM
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
        maxRequestsPerConnection: 1
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
    tls:
      mode: ISTIO_MUTUAL
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
  - name: v3
    labels:
      version: v3
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: bookinfo-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 8080
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bookinfo
spec:
  hosts:
  - "*"
  gateways:
  - bookinfo-gateway
  http:
  - match:
    - uri:
        exact: /productpage
    - uri:
        prefix: /static
    route:
    - destination:
        host: productpage
        port:
          number: 9080
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  ports:
  - number: 80
    name: http
    protocol: HTTP
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
spec:
  egress:
  - hosts:
    - "./*"
    - "istio-system/*"
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: jwt-example
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "https://raw.githubusercontent.com/istio/istio/release-1.22/security/tools/jwt/samples/jwks.json"
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ratings-viewer
spec:
  selector:
    matchLabels:
      app: ratings
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/bookinfo-reviews"]
    to:
    - operation:
        methods: ["GET"]
    when:
    - key: request.auth.claims[iss]
      values: ["testing@secure.istio.io"]
"""

_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def conformance_problems(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """A small structural check: types, declared fields, required fields, enums."""
    expected = _TYPES[schema["type"]]
    if not isinstance(value, expected) or (schema["type"] != "boolean" and isinstance(value, bool)):
        return [f"{path}: must be of type {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: unsupported value {value!r}"]
    problems = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            problems += conformance_problems(schema["items"], item, f"{path}[{index}]")
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [
            f"{path}.{key}: required" for key in schema.get("required", []) if key not in value
        ]
        for key, item in value.items():
            if key in properties:
                problems += conformance_problems(properties[key], item, f"{path}.{key}")
            elif "additionalProperties" in schema:
                problems += conformance_problems(
                    schema["additionalProperties"], item, f"{path}.{key}"
                )
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                problems.append(f"{path}.{key}: unknown field")
    return problems


def crd_for(kind: str) -> dict[str, Any]:
    return next(crd for crd in istio_crds() if crd["spec"]["names"]["kind"] == kind)


def spec_problems(resource: dict[str, Any]) -> list[str]:
    crd = crd_for(resource["kind"])
    group, _, version = resource["apiVersion"].partition("/")
    assert crd["spec"]["group"] == group
    served = {v["name"]: v for v in crd["spec"]["versions"] if v["served"]}
    schema = served[version]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return conformance_problems(schema, resource["spec"], "spec")


def schema_nodes(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for key, child in schema.get("properties", {}).items():
        nodes += schema_nodes(child, f"{path}.{key}")
    if "items" in schema:
        nodes += schema_nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += schema_nodes(schema["additionalProperties"], f"{path}{{}}")
    return nodes


def test_the_bundle_holds_istios_kinds_with_istios_names() -> None:
    crds = istio_crds()
    assert sorted(crd["spec"]["names"]["kind"] for crd in crds) == sorted(ISTIO_KINDS)
    for crd in crds:
        spec, names = crd["spec"], crd["spec"]["names"]
        group, short_names, versions, columns = ISTIO_KINDS[names["kind"]]
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["metadata"]["name"] == f"{names['plural']}.{group}"
        assert spec["group"] == group
        assert spec["scope"] == "Namespaced"
        assert names["singular"] == names["kind"].lower()
        assert names["listKind"] == f"{names['kind']}List"
        assert names.get("shortNames", []) == short_names
        area = group.split(".")[0]
        assert names["categories"] == ["istio-io", f"{area}-istio-io"]  # not "all", as Istio
        assert [v["name"] for v in spec["versions"]] == versions
        assert all(v["served"] for v in spec["versions"])
        assert [v["name"] for v in spec["versions"] if v["storage"]] == ["v1"]
        for version in spec["versions"]:
            assert version["subresources"] == {"status": {}}
            printed = [c["name"] for c in version.get("additionalPrinterColumns", [])]
            assert printed == ([*columns, "Age"] if columns else [])


def test_printer_columns_read_the_fields_kubectl_shows() -> None:
    paths = {
        kind: {
            c["name"]: c["jsonPath"]
            for c in crd_for(kind)["spec"]["versions"][0].get("additionalPrinterColumns", [])
        }
        for kind in ISTIO_KINDS
    }
    assert paths["VirtualService"]["Hosts"] == ".spec.hosts"
    assert paths["VirtualService"]["Gateways"] == ".spec.gateways"
    assert paths["DestinationRule"]["Host"] == ".spec.host"
    assert paths["ServiceEntry"]["Resolution"] == ".spec.resolution"
    assert paths["PeerAuthentication"]["Mode"] == ".spec.mtls.mode"
    assert paths["AuthorizationPolicy"]["Action"] == ".spec.action"
    assert {p["Age"] for p in paths.values() if p} == {".metadata.creationTimestamp"}


@pytest.mark.parametrize("kind", ISTIO_KINDS)
def test_schemas_are_structural_and_explained(kind: str) -> None:
    for version in crd_for(kind)["spec"]["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        assert root["type"] == "object"
        assert root["properties"]["status"]["x-kubernetes-preserve-unknown-fields"]
        for path, node in schema_nodes(root, version["name"]):
            assert node.get("type") in _TYPES, path
            assert not ("properties" in node and "additionalProperties" in node), path
            if node["type"] == "array":
                assert "items" in node, path
            if node["type"] == "object" and not path.endswith("{}"):
                # kubectl explain shows these; open objects say they are kept as written
                assert node.get("description"), path
                assert (
                    "properties" in node
                    or "additionalProperties" in node
                    or node.get("x-kubernetes-preserve-unknown-fields")
                ), path
        for path, node in schema_nodes(root["properties"]["spec"], "spec"):
            if not path.endswith(("[]", "{}")):
                assert node.get("description"), path


def test_istios_documented_samples_fit_the_schemas() -> None:
    samples = [doc for doc in yaml.safe_load_all(SAMPLES) if doc]
    assert len(samples) == 10
    for sample in samples:
        assert spec_problems(sample) == [], sample["metadata"]["name"]


def test_misspelt_and_mistyped_fields_do_not_fit() -> None:
    virtual_service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "spec": {
            "hosts": "reviews",
            "http": [
                {
                    "rout": [{"destination": {"host": "reviews"}}],
                    "route": [{"destination": {"subset": "v1"}, "weight": "50"}],
                }
            ],
        },
    }
    assert spec_problems(virtual_service) == [
        "spec.hosts: must be of type array",
        "spec.http[0].rout: unknown field",
        "spec.http[0].route[0].destination.host: required",
        "spec.http[0].route[0].weight: must be of type integer",
    ]
    peer_authentication = {
        "apiVersion": "security.istio.io/v1beta1",
        "kind": "PeerAuthentication",
        "spec": {"mtls": {"mode": "STRICTEST"}},
    }
    assert spec_problems(peer_authentication) == ["spec.mtls.mode: unsupported value 'STRICTEST'"]


def test_every_call_returns_objects_of_its_own() -> None:
    first = istio_crds()
    v1, v1alpha3 = first[0]["spec"]["versions"][:2]
    v1["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].clear()
    assert v1alpha3["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert istio_crds()[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]["properties"]
