"""Admission webhooks, called the way a real API server calls them.

The mesh's sidecar injector and config validation plug in exactly as
Istio's do on any cluster: by creating ``MutatingWebhookConfiguration`` and
``ValidatingWebhookConfiguration`` objects. The API server never imports the
mesh; it sends an ``admission.k8s.io/v1`` AdmissionReview over HTTPS and
applies the JSONPatch, or the refusal, that comes back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.patch import json_patch
from labplatform.clusters.embedded.apiserver.selectors import label_selector_from_spec

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 30


@dataclass(frozen=True)
class AdmissionRequest:
    """What is being admitted, in the AdmissionReview's own terms."""

    uid: str
    kind: dict[str, str]
    resource: dict[str, str]
    sub_resource: str
    name: str
    namespace: str
    operation: str
    user_info: dict[str, Any]
    object: Obj | None
    old_object: Obj | None
    dry_run: bool
    options: Obj | None

    def review(self) -> Obj:
        request: Obj = {
            "uid": self.uid,
            "kind": self.kind,
            "resource": self.resource,
            "requestKind": self.kind,
            "requestResource": self.resource,
            "name": self.name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": self.user_info,
            "object": self.object,
            "oldObject": self.old_object,
            "dryRun": self.dry_run,
            "options": self.options,
        }
        if self.sub_resource:
            request["subResource"] = self.sub_resource
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def default_service_url(namespace: str, name: str, port: int, path: str) -> str:
    """In-cluster DNS name of a webhook Service; the node runtime may resolve it otherwise."""
    return f"https://{name}.{namespace}.svc:{port}{path}"


class WebhookAdmission:
    """Runs the webhooks that match a request; mutating in order, validating together."""

    def __init__(
        self,
        configurations: Callable[[], list[Obj]],
        namespace_labels: Callable[[str], dict[str, str]],
        service_url: Callable[[str, str, int, str], str] = default_service_url,
    ) -> None:
        self._configurations = configurations
        self._namespace_labels = namespace_labels
        self._service_url = service_url

    def _matching(self, kind: str, request: AdmissionRequest) -> list[Obj]:
        configs = sorted(
            (c for c in self._configurations() if c.get("kind") == kind),
            key=lambda c: c["metadata"]["name"],
        )
        return [w for c in configs for w in c.get("webhooks") or [] if self._matches(w, request)]

    def _matches(self, webhook: Obj, request: AdmissionRequest) -> bool:
        resource = request.resource["resource"]
        if request.sub_resource:
            resource += "/" + request.sub_resource
        if not any(_rule_matches(rule, request, resource) for rule in webhook.get("rules") or []):
            return False
        if request.namespace:
            selector = label_selector_from_spec(webhook.get("namespaceSelector"))
            if not selector.matches(self._namespace_labels(request.namespace)):
                return False
        target = request.object or request.old_object or {}
        labels = (target.get("metadata") or {}).get("labels") or {}
        return label_selector_from_spec(webhook.get("objectSelector")).matches(labels)

    async def mutate(self, request: AdmissionRequest) -> Obj:
        """The object after every matching mutating webhook has had its say."""
        current = request.object
        for webhook in self._matching("MutatingWebhookConfiguration", request):
            step = AdmissionRequest(**{**request.__dict__, "object": current})
            response = await self._call(webhook, step)
            if response is None:
                continue
            _raise_if_denied(webhook, response)
            patch = response.get("patch")
            if patch and current is not None:
                operations = json.loads(base64.b64decode(patch))
                patched = json_patch(current, operations)
                if isinstance(patched, dict):
                    current = patched
        return current or {}

    async def validate(self, request: AdmissionRequest) -> None:
        """Raise the first refusal of the matching validating webhooks."""
        webhooks = self._matching("ValidatingWebhookConfiguration", request)
        responses = await asyncio.gather(*(self._call(w, request) for w in webhooks))
        for webhook, response in zip(webhooks, responses, strict=True):
            if response is not None:
                _raise_if_denied(webhook, response)

    async def _call(self, webhook: Obj, request: AdmissionRequest) -> Obj | None:
        """The webhook's response, or None when it failed and its policy is Ignore."""
        config = webhook.get("clientConfig") or {}
        if "url" in config:
            url = config["url"]
        else:
            service = config.get("service") or {}
            url = self._service_url(
                service.get("namespace", ""),
                service.get("name", ""),
                int(service.get("port", 443)),
                service.get("path", "/"),
            )
        timeout = min(int(webhook.get("timeoutSeconds", DEFAULT_TIMEOUT)), MAX_TIMEOUT)
        name = webhook.get("name", "")
        try:
            context = ssl.create_default_context()
            if config.get("caBundle"):
                context = ssl.create_default_context(
                    cadata=base64.b64decode(config["caBundle"]).decode()
                )
            async with httpx.AsyncClient(verify=context, timeout=timeout) as client:
                reply = await client.post(url, json=request.review())
            reply.raise_for_status()
            body = reply.json()
            response = body["response"]
            if response.get("uid") != request.uid:
                raise ValueError(
                    f"expected response.uid={request.uid!r}, got {response.get('uid')!r}"
                )
            return dict(response)
        except (httpx.HTTPError, ValueError, KeyError, ssl.SSLError) as exc:
            if webhook.get("failurePolicy", "Fail") == "Ignore":
                log.warning("webhook failed; ignored", extra={"webhook": name, "error": str(exc)})
                return None
            raise ApiError(
                500,
                "InternalError",
                f'Internal error occurred: failed calling webhook "{name}": failed to call '
                f'webhook: Post "{url}?timeout={timeout}s": {exc}',
            ) from None


def _rule_matches(rule: Obj, request: AdmissionRequest, resource: str) -> bool:
    def allows(values: list[str] | None, value: str) -> bool:
        return bool(values) and values is not None and ("*" in values or value in values)

    scope = rule.get("scope", "*")
    if scope == "Namespaced" and not request.namespace:
        return False
    if scope == "Cluster" and request.namespace:
        return False
    resources = rule.get("resources") or []
    base = resource.split("/")[0]
    resource_ok = (
        "*" in resources
        or resource in resources
        or ("*/*" in resources)
        or (f"{base}/*" in resources and "/" in resource)
    )
    return (
        resource_ok
        and allows(rule.get("operations"), request.operation)
        and allows(rule.get("apiGroups"), request.resource["group"])
        and allows(rule.get("apiVersions"), request.resource["version"])
    )


def _raise_if_denied(webhook: Obj, response: Obj) -> None:
    if response.get("allowed"):
        return
    status = response.get("status") or {}
    message = status.get("message") or ""
    code = int(status.get("code") or 400)
    reason = status.get("reason") or ("BadRequest" if code == 400 else "Forbidden")
    text = f'admission webhook "{webhook.get("name", "")}" denied the request'
    raise ApiError(code, reason, f"{text}: {message}" if message else f"{text} without explanation")
