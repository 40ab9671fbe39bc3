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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesh_runtime.citadel.ca import CertificateAuthority
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
    """A fresh CA of its own and a certificate for the webhook's Service name, for a year.

    The webhooks do not use the mesh CA: they must answer before citadel exists.
    """
    ca = CertificateAuthority.generate("istiod webhook CA")
    key = ec.generate_private_key(ec.SECP256R1())
    host = f"{SERVICE}.{NAMESPACE}.svc"
    cert = ca.issue(key.public_key(), [host, f"{host}.cluster.local"], dt.timedelta(days=365))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "webhook.crt", directory / "webhook.key"
    cert_path.write_text(cert)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return WebhookCertificate(ca.root_pem, cert_path, key_path)


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


Decision = Callable[[Obj, Obj], Obj]  # (the request, its object) -> the response's fields


def _endpoint(decide: Decision) -> Callable[[Request], Awaitable[Response]]:
    """An AdmissionReview endpoint: the review in, the same review with a response out."""

    async def endpoint(request: Request) -> Response:
        try:
            review = await request.json()
            uid, obj = str(review["request"]["uid"]), dict(review["request"]["object"])
        except (ValueError, KeyError, TypeError) as error:
            return JSONResponse({"error": f"not an AdmissionReview: {error}"}, status_code=400)
        response = {"uid": uid, **decide(review["request"], obj)}
        return JSONResponse({**review, "response": response})

    return endpoint


def app(pilot: str) -> Starlette:
    def inject(request: Obj, pod: Obj) -> Obj:
        patch = patch_for(pod, pilot)
        if not patch:
            return {"allowed": True}
        log.info(
            "injected",
            extra={"namespace": request.get("namespace"),
                   "pod": pod["metadata"].get("name") or pod["metadata"].get("generateName")},
        )  # fmt: skip
        encoded = base64.b64encode(json.dumps(patch).encode()).decode()
        return {"allowed": True, "patchType": "JSONPatch", "patch": encoded}

    def check(_: Obj, obj: Obj) -> Obj:
        messages = validate(obj)
        if not messages:
            return {"allowed": True}
        meta = obj.get("metadata") or {}
        log.info(
            "refused invalid config",
            extra={"kind": obj.get("kind"), "namespace": meta.get("namespace"),
                   "rule": meta.get("name"), "errors": messages},
        )  # fmt: skip
        status = {"code": 400, "reason": "BadRequest", "message": describe(messages)}
        return {"allowed": False, "status": status}

    return Starlette(
        routes=[
            Route("/inject", _endpoint(inject), methods=["POST"]),
            Route("/validate", _endpoint(check), methods=["POST"]),
        ]
    )
