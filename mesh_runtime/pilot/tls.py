"""Transport sockets: Istio mutual TLS on either end of a connection, and a DestinationRule's TLS.

Both ends use the proxy's own certificate (SDS ``default``) and trust the
mesh root (SDS ``ROOTCA``). A client checks the server is one of the
service accounts behind the destination; a server demands a client
certificate from the mesh's trust domain and leaves who may call to
AuthorizationPolicy. Clients offer ALPN ``istio``, which is how a
PERMISSIVE server tells mesh mTLS from a plaintext or app-TLS caller.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.identity import CERTIFICATE_SECRET, ROOT_SECRET, TRUST_DOMAIN, sds_config

Obj = dict[str, Any]
TLS = "envoy.transport_sockets.tls"
UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
DOWNSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
RAW = {
    "name": "envoy.transport_sockets.raw_buffer",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
    },
}
ALPN = "istio"
MATCH_KEY = "envoy.transport_socket_match"  # endpoint metadata auto mTLS matches on


def _mesh_context(sans: list[str] | None, alpn: bool) -> Obj:
    """Our certificate, the root, and which peer identities to accept (None: any in the mesh)."""
    matchers = (
        [{"san_type": "URI", "matcher": {"exact": san}} for san in sorted(sans)]
        if sans
        else [{"san_type": "URI", "matcher": {"prefix": f"spiffe://{TRUST_DOMAIN}/"}}]
    )
    context: Obj = {
        "tls_certificate_sds_secret_configs": [sds_config(CERTIFICATE_SECRET)],
        "combined_validation_context": {
            "default_validation_context": {"match_typed_subject_alt_names": matchers},
            "validation_context_sds_secret_config": sds_config(ROOT_SECRET),
        },
    }
    if alpn:
        context["alpn_protocols"] = [ALPN]
    return context


def istio_mutual_client(sni: str, sans: list[str]) -> Obj:
    return {
        "name": TLS,
        "typed_config": {"@type": UPSTREAM, "sni": sni,
                         "common_tls_context": _mesh_context(sans, alpn=True)},
    }  # fmt: skip


def istio_mutual_server() -> Obj:
    return {
        "name": TLS,
        "typed_config": {"@type": DOWNSTREAM, "require_client_certificate": True,
                         "common_tls_context": _mesh_context(None, alpn=False)},
    }  # fmt: skip


def auto_mtls(sni: str, sans: list[str]) -> list[Obj]:
    """Istio's auto mTLS: endpoints with sidecars get mutual TLS, the others plaintext."""
    return [
        {"name": "tlsMode-istio", "match": {"tlsMode": "istio"},
         "transport_socket": istio_mutual_client(sni, sans)},
        {"name": "tlsMode-disabled", "match": {}, "transport_socket": RAW},
    ]  # fmt: skip


def from_destination_rule(tls: Obj, sni: str, sans: list[str]) -> Obj | None:
    """A DestinationRule's ``tls``: DISABLE, SIMPLE, MUTUAL (files in the proxy) or
    ISTIO_MUTUAL. None for DISABLE."""
    mode = tls.get("mode", "DISABLE")
    if mode == "ISTIO_MUTUAL":
        return istio_mutual_client(tls.get("sni") or sni, tls.get("subjectAltNames") or sans)
    if mode not in ("SIMPLE", "MUTUAL"):
        return None
    context: Obj = {}
    if tls.get("caCertificates"):
        context["validation_context"] = {"trusted_ca": {"filename": tls["caCertificates"]}}
        if tls.get("subjectAltNames"):
            context["validation_context"]["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": name}} for name in tls["subjectAltNames"]
            ]
    if mode == "MUTUAL":
        context["tls_certificates"] = [
            {"certificate_chain": {"filename": tls.get("clientCertificate", "")},
             "private_key": {"filename": tls.get("privateKey", "")}}
        ]  # fmt: skip
    upstream: Obj = {"@type": UPSTREAM, "common_tls_context": context}
    if tls.get("sni"):
        upstream["sni"] = tls["sni"]
    return {"name": TLS, "typed_config": upstream}
