"""Gateway to Envoy: listeners, routes and certificates for a gateway proxy (the ingress gateway).

A Gateway selects proxies by label and opens ports on them; each HTTP or
HTTPS server becomes part of a bound listener on its port whose routes
(``http.<port>``) come from the VirtualServices bound to that Gateway, with
a virtual host per host they name (``*`` answers for any). A port nobody
routes answers 404, as Istio's gateways do. An HTTPS server terminates TLS
with the Secret its ``credentialName`` names (in the gateway proxy's namespace),
served to Envoy over SDS as ``kubernetes://<name>`` so the key never shows
in the listener; several HTTPS servers on one port are told apart by SNI.
MUTUAL also asks clients for a certificate signed by the Secret's
``ca.crt``; an HTTP server with ``tls.httpsRedirect`` redirects to HTTPS.
"""

from __future__ import annotations

import copy
from typing import Any

from mesh_runtime.pilot.clusters import ADS
from mesh_runtime.pilot.listeners import TLS_INSPECTOR, http_listener
from mesh_runtime.pilot.model import MeshModel
from mesh_runtime.pilot.routes import Source, finish_routes, http_routes
from mesh_runtime.pilot.tls import DOWNSTREAM, TLS

Obj = dict[str, Any]
HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC", "HTTPS")


def gateway_servers(model: MeshModel, labels: dict[str, str]) -> dict[int, list[tuple[Obj, Obj]]]:
    """(Gateway, server) pairs by port, for the HTTP(S) servers that apply to this proxy."""
    by_port: dict[int, list[tuple[Obj, Obj]]] = {}
    for gateway in model.gateways_for(labels):
        for server in gateway.get("spec", {}).get("servers") or []:
            port = server.get("port") or {}
            if str(port.get("protocol", "HTTP")).upper() in HTTP_PROTOCOLS:
                by_port.setdefault(int(port["number"]), []).append((gateway, server))
    return by_port


def _https(server: Obj) -> bool:
    return str((server.get("port") or {}).get("protocol", "")).upper() == "HTTPS"


def gateway_listeners(model: MeshModel, labels: dict[str, str]) -> list[Obj]:
    listeners = []
    for port, pairs in sorted(gateway_servers(model, labels).items()):
        listener = http_listener("0.0.0.0", port, bind=True, route_name=f"http.{port}")
        secure = [(gateway, server) for gateway, server in pairs if _https(server)]
        if secure:
            plain_chain = listener["filter_chains"][0]
            listener["filter_chains"] = [_tls_chain(plain_chain, g, s) for g, s in secure]
            listener["listener_filters"] = [TLS_INSPECTOR]
        listeners.append(listener)
    return listeners


def _tls_chain(template: Obj, gateway: Obj, server: Obj) -> Obj:
    tls = server.get("tls") or {}
    credential = f"kubernetes://{tls.get('credentialName', '')}"
    context: Obj = {
        "tls_certificate_sds_secret_configs": [{"name": credential, "sds_config": ADS}],
        "alpn_protocols": ["h2", "http/1.1"],
    }
    downstream: Obj = {"@type": DOWNSTREAM, "common_tls_context": context}
    if tls.get("mode") == "MUTUAL":
        downstream["require_client_certificate"] = True
        context["validation_context_sds_secret_config"] = {
            "name": f"{credential}-cacert", "sds_config": ADS}  # fmt: skip
    chain = copy.deepcopy(template)
    chain["transport_socket"] = {"name": TLS, "typed_config": downstream}
    names = [h.split("/", 1)[-1] for h in server.get("hosts") or []]
    if names and "*" not in names:
        chain["filter_chain_match"] = {"server_names": names}
    chain["name"] = f"https.{gateway['metadata']['name']}.{server.get('port', {}).get('name', '')}"
    return chain


def gateway_secrets(model: MeshModel, source: Source) -> list[Obj]:
    """The certificates the HTTPS servers name, from the Secrets in the gateway proxy's own
    namespace (where Istio looks for a ``credentialName``, whatever the Gateway's)."""
    secrets: dict[str, Obj] = {}
    for pairs in gateway_servers(model, source.labels).values():
        for _, server in pairs:
            name = (server.get("tls") or {}).get("credentialName")
            if not _https(server) or not name:
                continue
            found = model.credential(source.namespace, name)
            if found is None:
                continue  # Envoy keeps the listener warming until the Secret exists, as Istio
            secrets[f"kubernetes://{name}"] = {
                "name": f"kubernetes://{name}",
                "tls_certificate": {"certificate_chain": {"inline_string": found["cert"]},
                                    "private_key": {"inline_string": found["key"]}},
            }  # fmt: skip
            if "cacert" in found:
                secrets[f"kubernetes://{name}-cacert"] = {
                    "name": f"kubernetes://{name}-cacert",
                    "validation_context": {"trusted_ca": {"inline_string": found["cacert"]}},
                }
    return list(secrets.values())


def gateway_routes(model: MeshModel, source: Source) -> list[Obj]:
    configurations = []
    for port, pairs in sorted(gateway_servers(model, source.labels).items()):
        hosts: dict[str, list[Obj]] = {}
        redirect = any((server.get("tls") or {}).get("httpsRedirect") for _, server in pairs)
        for gateway, server in pairs:
            allowed = [h.split("/", 1)[-1] for h in server.get("hosts") or ["*"]]
            for rule in model.virtual_services_for_gateway(gateway):
                for host in rule.get("spec", {}).get("hosts") or []:
                    if "*" in allowed or host in allowed:
                        routes = finish_routes(model, http_routes(rule, port, source))
                        hosts.setdefault(host, []).extend(routes)
        virtual_hosts = [
            {"name": f"{host}:{port}", "domains": [host, f"{host}:{port}"], "routes": routes}
            for host, routes in sorted(hosts.items())
        ]
        for virtual_host in virtual_hosts:
            if "*" in virtual_host["domains"]:
                virtual_host["domains"] = ["*"]
            if redirect:
                virtual_host["require_tls"] = "ALL"  # plain HTTP is answered with a redirect
        configurations.append(
            {"name": f"http.{port}", "virtual_hosts": virtual_hosts, "validate_clusters": False}
        )
    return configurations
