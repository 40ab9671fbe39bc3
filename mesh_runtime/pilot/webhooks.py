"""pilot's admission webhooks, served on 15017 as istiod serves them: injection and validation.

At start pilot makes a CA and a serving certificate for
``istiod.istio-system.svc`` and registers both webhook configurations with
that CA, so the API server trusts exactly this pilot. Pods created in
namespaces labelled ``istio-injection=enabled`` (and not annotated
``sidecar.istio.io/inject: "false"``) come back with the capture init step
and the proxy container, as a JSON patch. Networking config that breaks
Istio's rules is refused with Istio's message, so ``kubectl apply`` fails
and the proxies keep the config they had.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesh_runtime.inject import INJECT_ANNOTATION, inject_pod_spec
from mesh_runtime.validation import GROUPS, describe, validate

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SERVICE = "istiod"
NAMESPACE = "istio-system"
PORT = 15017
INJECTOR = "istio-sidecar-injector"
VALIDATOR = f"istio-validator-{NAMESPACE}"


@dataclass(frozen=True)
class WebhookCertificate:
    ca_pem: bytes
    cert_path: Path
    key_path: Path


def make_certificate(directory: Path) -> WebhookCertificate:
    """A fresh CA and a certificate for the webhook's Service name, valid for a year."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "istiod webhook CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    host = f"{SERVICE}.{NAMESPACE}.svc"
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.DNSName(f"{host}.cluster.local")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "webhook.crt", directory / "webhook.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return WebhookCertificate(ca.public_bytes(serialization.Encoding.PEM), cert_path, key_path)


def configurations(ca_pem: bytes) -> list[Obj]:
    """The webhook configurations that send new pods of labelled namespaces and every
    change to networking config here."""
    service: Obj = {"name": SERVICE, "namespace": NAMESPACE, "port": 443}
    ca_bundle = base64.b64encode(ca_pem).decode()
    common = {"sideEffects": "None", "admissionReviewVersions": ["v1"],
              "failurePolicy": "Fail", "timeoutSeconds": 10}  # fmt: skip
    injector = {
        "name": "namespace.sidecar-injector.istio.io",
        "clientConfig": {"service": {**service, "path": "/inject"}, "caBundle": ca_bundle},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}],
        "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}},
        "objectSelector": {"matchExpressions": [
            {"key": INJECT_ANNOTATION, "operator": "NotIn", "values": ["false"]}]},
        **common,
    }  # fmt: skip
    validator = {
        "name": "validation.istio.io",
        "clientConfig": {"service": {**service, "path": "/validate"}, "caBundle": ca_bundle},
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": list(GROUPS),
                   "apiVersions": ["*"], "resources": ["*"]}],
        **common,
    }  # fmt: skip
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": INJECTOR, "labels": {"app": "sidecar-injector"}},
            "webhooks": [injector],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": VALIDATOR, "labels": {"app": "istiod"}},
            "webhooks": [validator],
        },
    ]


def patch_for(pod: Obj, pilot: str) -> list[Obj]:
    """The JSON patch that turns ``pod`` into the injected pod (empty if nothing changes)."""
    injected = inject_pod_spec(pod, pilot)
    if injected is pod:
        return []
    return [
        {"op": "add", "path": "/spec/initContainers", "value": injected["spec"]["initContainers"]},
        {"op": "add", "path": "/spec/containers", "value": injected["spec"]["containers"]},
        {"op": "add", "path": "/spec/volumes", "value": injected["spec"]["volumes"]},
        {"op": "add", "path": "/metadata/annotations",
         "value": injected["metadata"]["annotations"]},
        {"op": "add", "path": "/metadata/labels", "value": injected["metadata"]["labels"]},
    ]  # fmt: skip


def _review(body: Any) -> tuple[str, Obj]:
    """The request's uid and object, or ``ValueError`` when the body is no AdmissionReview."""
    try:
        return str(body["request"]["uid"]), dict(body["request"]["object"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"not an AdmissionReview: missing {error}") from None


def app(pilot: str) -> Starlette:
    async def inject(request: Request) -> Response:
        try:
            review = await request.json()
            uid, pod = _review(review)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        patch = patch_for(pod, pilot)
        response: Obj = {"uid": uid, "allowed": True}
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
            log.info(
                "injected",
                extra={"namespace": review["request"].get("namespace"),
                       "pod": pod["metadata"].get("name") or pod["metadata"].get("generateName")},
            )  # fmt: skip
        return JSONResponse({**review, "response": response})

    async def check(request: Request) -> Response:
        try:
            review = await request.json()
            uid, obj = _review(review)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        messages = validate(obj)
        response: Obj = {"uid": uid, "allowed": not messages}
        if messages:
            response["status"] = {
                "code": 400,
                "reason": "BadRequest",
                "message": describe(messages),
            }
            meta = obj.get("metadata") or {}
            log.info(
                "refused invalid config",
                extra={"kind": obj.get("kind"), "namespace": meta.get("namespace"),
                       "rule": meta.get("name"), "errors": messages},
            )  # fmt: skip
        return JSONResponse({**review, "response": response})

    return Starlette(
        routes=[
            Route("/inject", inject, methods=["POST"]),
            Route("/validate", check, methods=["POST"]),
        ]
    )
