"""The sidecar injection webhook, served by pilot on 15017 as istiod serves it.

At start pilot makes a CA and a serving certificate for
``istiod.istio-system.svc`` and registers the MutatingWebhookConfiguration
``istio-sidecar-injector`` with that CA, so the API server trusts exactly
this pilot. Pods created in namespaces labelled ``istio-injection=enabled``
(and not annotated ``sidecar.istio.io/inject: "false"``) come back with the
capture init step and the proxy container, as a JSON patch.
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

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SERVICE = "istiod"
NAMESPACE = "istio-system"
PORT = 15017
CONFIGURATION = "istio-sidecar-injector"


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


def configuration(ca_pem: bytes) -> Obj:
    """The MutatingWebhookConfiguration that sends new pods of labelled namespaces here."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CONFIGURATION, "labels": {"app": "sidecar-injector"}},
        "webhooks": [
            {
                "name": "namespace.sidecar-injector.istio.io",
                "clientConfig": {
                    "service": {
                        "name": SERVICE,
                        "namespace": NAMESPACE,
                        "path": "/inject",
                        "port": 443,
                    },
                    "caBundle": base64.b64encode(ca_pem).decode(),
                },
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}},
                "objectSelector": {
                    "matchExpressions": [
                        {"key": INJECT_ANNOTATION, "operator": "NotIn", "values": ["false"]}
                    ]
                },
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
            }
        ],
    }


def patch_for(pod: Obj, pilot: str) -> list[Obj]:
    """The JSON patch that turns ``pod`` into the injected pod (empty if nothing changes)."""
    injected = inject_pod_spec(pod, pilot)
    if injected is pod:
        return []
    return [
        {"op": "add", "path": "/spec/initContainers", "value": injected["spec"]["initContainers"]},
        {"op": "add", "path": "/spec/containers", "value": injected["spec"]["containers"]},
        {"op": "add", "path": "/metadata/annotations",
         "value": injected["metadata"]["annotations"]},
        {"op": "add", "path": "/metadata/labels", "value": injected["metadata"]["labels"]},
    ]  # fmt: skip


def app(pilot: str) -> Starlette:
    async def inject(request: Request) -> Response:
        try:
            review = await request.json()
            uid, pod = review["request"]["uid"], review["request"]["object"]
        except (ValueError, KeyError, TypeError) as error:
            return JSONResponse({"error": f"not an AdmissionReview: {error}"}, status_code=400)
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

    return Starlette(routes=[Route("/inject", inject, methods=["POST"])])
