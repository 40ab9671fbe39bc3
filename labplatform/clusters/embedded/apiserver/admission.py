"""Admission webhooks, called the way a real API server calls them.

The mesh's sidecar injector and its config validation plug in exactly as Istio's
do on any cluster: by creating ``MutatingWebhookConfiguration`` and
``ValidatingWebhookConfiguration`` objects. The API server never imports the
mesh; it posts an ``admission.k8s.io`` AdmissionReview over HTTPS, verifies the
answer as upstream does, and applies the JSONPatch or the refusal it carries.
Failures and refusals read as upstream's, since learners meet them at
``kubectl apply``.

Matching follows upstream: namespaceSelector, objectSelector, then rules
(operations, apiGroups, apiVersions, resources with the ``pods/status`` and
``*`` forms, scope). Left out: ``matchPolicy: Equivalent`` (a request is matched
by the group and version it was made in; this server serves no kind under two
groups), ``matchConditions`` (CEL), reinvocation, audit annotations and warnings.
Validating webhooks run concurrently; when several refuse, the refusal of the
first in configuration order is reported (upstream reports whichever came first).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from labplatform.clusters.embedded.apiserver.errors import ApiError, bad_request
from labplatform.clusters.embedded.apiserver.patch import json_patch
from labplatform.clusters.embedded.apiserver.selectors import label_selector_from_spec

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ServiceUrl = Callable[[str, str, int, str], str]

MUTATING = "MutatingWebhookConfiguration"
VALIDATING = "ValidatingWebhookConfiguration"
DEFAULT_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 30
REVIEW_VERSIONS = ("v1", "v1beta1")
# client-go keeps this much of a non-Status error body for its message.
_MAX_ERROR_BODY = 2048


@dataclass(frozen=True)
class AdmissionRequest:
    """What is being admitted, in the AdmissionReview's own terms.

    ``operation`` is CREATE, UPDATE, DELETE or CONNECT; ``object`` is absent on
    DELETE, ``old_object`` on CREATE.
    """

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

    def review(self, version: str = "v1") -> Obj:
        """The AdmissionReview a webhook receives, with the fields upstream omits when empty."""
        request: Obj = {
            "uid": self.uid,
            "kind": self.kind,
            "resource": self.resource,
            "requestKind": self.kind,
            "requestResource": self.resource,
            "operation": self.operation,
            "userInfo": self.user_info,
            "object": self.object,
            "oldObject": self.old_object,
            "dryRun": self.dry_run,
            "options": self.options,
        }
        optional = {
            "subResource": self.sub_resource,
            "requestSubResource": self.sub_resource,
            "name": self.name,
            "namespace": self.namespace,
        }
        request.update((key, value) for key, value in optional.items() if value)
        return {
            "apiVersion": f"admission.k8s.io/{version}",
            "kind": "AdmissionReview",
            "request": request,
        }


def default_service_url(namespace: str, name: str, port: int, path: str) -> str:
    """A webhook Service's in-cluster address; the node runtime passes its own resolver."""
    return f"https://{name}.{namespace}.svc:{port}{path}"


class _CallError(Exception):
    """The webhook could not be asked, or answered nonsense: its failurePolicy decides."""


@dataclass(frozen=True)
class _Target:
    url: str  # where the review is posted
    shown: str  # the URL errors name, as upstream's client names it
    server_name: str | None  # the name the certificate must carry, if not the URL's host


class WebhookAdmission:
    """Runs the webhooks that match a request: mutating in turn, validating together.

    ``configurations`` returns the stored webhook configuration objects of both
    kinds; ``namespace_labels`` a namespace's labels (empty when it does not
    exist); ``service_url`` where a webhook Service's port and path are reached
    from this process (how Services are reached is the node runtime's business).
    A Service's certificate is verified for ``<name>.<namespace>.svc``, whatever
    address it is reached at, as upstream does.
    """

    def __init__(
        self,
        configurations: Callable[[], list[Obj]],
        namespace_labels: Callable[[str], Mapping[str, str]],
        service_url: ServiceUrl = default_service_url,
    ) -> None:
        self._configurations = configurations
        self._namespace_labels = namespace_labels
        self._service_url = service_url

    async def mutate(self, request: AdmissionRequest) -> Obj:
        """The object after every matching mutating webhook has patched it, in order.

        Webhooks run in the order of their configurations' names, then their order
        in the configuration; each sees, and is matched against, the object as the
        ones before it left it. A request without an object (DELETE, CONNECT) is
        still shown to the webhooks, which may refuse it; it admits the empty object.
        """
        for webhook in self._webhooks(MUTATING):
            if self._matches(webhook, request):
                request = replace(request, object=await self._mutate_once(webhook, request))
        return request.object or {}

    async def validate(self, request: AdmissionRequest) -> None:
        """Raise the refusal (or failure) of the matching validating webhooks, if any."""
        webhooks = [w for w in self._webhooks(VALIDATING) if self._matches(w, request)]
        outcomes = await asyncio.gather(
            *(self._validate_once(w, request) for w in webhooks), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    # -- matching ------------------------------------------------------------------------

    def _webhooks(self, kind: str) -> Iterator[Obj]:
        configurations = [c for c in self._configurations() if c.get("kind") == kind]
        configurations.sort(key=lambda c: str(c.get("metadata", {}).get("name", "")))
        for configuration in configurations:
            yield from configuration.get("webhooks") or []

    def _matches(self, webhook: Obj, request: AdmissionRequest) -> bool:
        return (
            self._namespace_selected(webhook, request)
            and _object_selected(webhook, request)
            and any(_rule_matches(rule, request) for rule in webhook.get("rules") or [])
        )

    def _namespace_selected(self, webhook: Obj, request: AdmissionRequest) -> bool:
        """Upstream's namespace matcher: a Namespace is judged by its own labels."""
        is_namespace = request.resource.get("resource") == "namespaces"
        if not request.namespace and not is_namespace:
            return True  # cluster-scoped
        selector = label_selector_from_spec(webhook.get("namespaceSelector"))
        if selector.empty:
            return True
        if is_namespace and not request.sub_resource and request.operation in ("CREATE", "UPDATE"):
            labels = _labels(request.object)
        else:
            labels = self._namespace_labels(request.namespace or request.name)
        return selector.matches(labels)

    # -- calling ---------------------------------------------------------------------------

    async def _mutate_once(self, webhook: Obj, request: AdmissionRequest) -> Obj | None:
        """The object as one webhook patches it."""
        try:
            operations = _patch_operations(await self._ask(webhook, request, mutating=True))
        except _CallError as exc:
            _fail_or_ignore(webhook, exc)
            return request.object
        if not operations:
            return request.object
        if request.object is None:
            raise _internal(
                f"admission webhook {_quoted(_name(webhook))} attempted to modify the object,"
                " which is not supported for this operation"
            )
        try:
            patched = json_patch(request.object, operations)
        except ApiError as exc:
            raise _internal(exc.message) from None
        if not isinstance(patched, dict):
            raise _internal(f"admission webhook {_quoted(_name(webhook))} replaced the object")
        return patched

    async def _validate_once(self, webhook: Obj, request: AdmissionRequest) -> None:
        try:
            await self._ask(webhook, request, mutating=False)
        except _CallError as exc:
            _fail_or_ignore(webhook, exc)

    async def _ask(self, webhook: Obj, request: AdmissionRequest, mutating: bool) -> Obj:
        """The webhook's verified response if it allowed the request; its refusal raised."""
        if request.dry_run:
            side_effects = webhook.get("sideEffects")
            if side_effects is None:
                raise _CallError("Webhook SideEffects is nil")
            if side_effects not in ("None", "NoneOnDryRun"):
                raise bad_request(
                    f"admission webhook {_quoted(_name(webhook))} does not support dry run"
                )
        version = next(
            (v for v in webhook.get("admissionReviewVersions") or [] if v in REVIEW_VERSIONS), None
        )
        if version is None:
            raise _CallError(
                "could not create admission objects: webhook does not accept known"
                " AdmissionReview versions (v1, v1beta1)"
            )
        reply = await self._post(webhook, json.dumps(request.review(version)).encode())
        response = _verified(_body(reply), request.uid, version, mutating)
        if not response.get("allowed"):
            raise _refusal(_name(webhook), response.get("status"))
        return response

    async def _post(self, webhook: Obj, review: bytes) -> httpx.Response:
        """Post a review over TLS within the webhook's timeout; failures in Go's words."""
        config = webhook.get("clientConfig") or {}
        try:
            context = _client_context(config.get("caBundle") or "")
        except (ValueError, ssl.SSLError):
            raise _CallError(
                "could not get REST client: unable to load root certificates:"
                " unable to parse bytes as PEM block"
            ) from None
        seconds = min(
            int(webhook.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS), MAX_TIMEOUT_SECONDS
        )
        target = self._target(config)
        # As upstream's client does, the webhook is told how long it has.
        url, shown = (
            f"{u}{'&' if '?' in u else '?'}timeout={seconds}s" for u in (target.url, target.shown)
        )
        try:
            async with (
                asyncio.timeout(seconds),
                httpx.AsyncClient(verify=context, timeout=None, trust_env=False) as client,
            ):
                return await client.post(
                    url,
                    content=review,
                    headers={"Content-Type": "application/json", "Accept": "application/json, */*"},
                    extensions={"sni_hostname": target.server_name} if target.server_name else {},
                )
        except TimeoutError:
            raise _CallError(
                f"failed to call webhook: Post {_quoted(shown)}: context deadline exceeded"
            ) from None
        except httpx.HTTPError as exc:
            raise _CallError(
                f"failed to call webhook: Post {_quoted(shown)}:"
                f" {_transport_error(exc, url, target.server_name)}"
            ) from None

    def _target(self, config: Obj) -> _Target:
        if config.get("url"):
            return _Target(config["url"], config["url"], None)
        service = config.get("service") or {}
        namespace, name = str(service.get("namespace", "")), str(service.get("name", ""))
        port, path = int(service.get("port") or 443), str(service.get("path") or "")
        server_name = f"{name}.{namespace}.svc"
        return _Target(
            self._service_url(namespace, name, port, path),
            f"https://{server_name}:{port}{path}",
            server_name,
        )


# -- matching helpers ----------------------------------------------------------------------


def _labels(obj: Obj | None) -> Mapping[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _object_selected(webhook: Obj, request: AdmissionRequest) -> bool:
    """The new object or the old one must carry the labels the objectSelector asks for."""
    selector = label_selector_from_spec(webhook.get("objectSelector"))
    return selector.empty or any(
        obj is not None and selector.matches(_labels(obj))
        for obj in (request.object, request.old_object)
    )


def _allows(values: list[str] | None, value: str) -> bool:
    return any(v in ("*", value) for v in values or [])


def _rule_matches(rule: Obj, request: AdmissionRequest) -> bool:
    """Upstream's rule matcher; ``pods`` leaves out ``pods/status``, ``*/*`` takes all."""
    cluster_scoped = not request.namespace or request.resource == {
        "group": "",
        "version": "v1",
        "resource": "namespaces",
    }
    scope = rule.get("scope") or "*"
    if scope != "*" and scope != ("Cluster" if cluster_scoped else "Namespaced"):
        return False
    resource = request.resource.get("resource", "")
    resource_matches = any(
        res in ("*", resource) and sub in ("*", request.sub_resource)
        for res, _, sub in (r.partition("/") for r in rule.get("resources") or [])
    )
    return (
        resource_matches
        and _allows(rule.get("operations"), request.operation)
        and _allows(rule.get("apiGroups"), request.resource.get("group", ""))
        and _allows(rule.get("apiVersions"), request.resource.get("version", ""))
    )


# -- answers -------------------------------------------------------------------------------


def _name(webhook: Obj) -> str:
    return str(webhook.get("name", ""))


def _quoted(value: object) -> str:
    """A value as Go's ``%q`` prints a string."""
    return json.dumps("" if value is None else str(value), ensure_ascii=False)


def _internal(message: str) -> ApiError:
    """Upstream's ``NewInternalError``."""
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )


def _fail_or_ignore(webhook: Obj, exc: _CallError) -> None:
    name = _name(webhook)
    if webhook.get("failurePolicy", "Fail") == "Ignore":
        log.warning("webhook call failed; failing open", extra={"webhook": name, "error": str(exc)})
        return
    raise _internal(f"failed calling webhook {_quoted(name)}: {exc}") from None


def _refusal(name: str, status: object) -> ApiError:
    """Upstream's ``ToStatusErr``: the webhook's own Status, its message prefixed."""
    result = status if isinstance(status, dict) else {}
    denied = f"admission webhook {_quoted(name)} denied the request"
    message, reason = str(result.get("message") or ""), str(result.get("reason") or "")
    if message or reason:
        text = f"{denied}: {message or reason}"
    else:
        text = f"{denied} without explanation"
    code = result.get("code")
    details = result.get("details")
    return ApiError(
        code if isinstance(code, int) and code >= 400 else 400,
        reason,
        text,
        details if isinstance(details, dict) else {},
    )


# The messages client-go gives a non-Status error answer, by status code.
_GENERIC_ERRORS = {
    400: "the server rejected our request for an unknown reason",
    401: "the server has asked for the client to provide credentials",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    409: "the server reported a conflict",
    422: "the server rejected our request due to an error in our request",
    429: "the server has received too many requests and has asked us to try again later",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be"
    " processing the request",
}


def _error_answer(reply: httpx.Response) -> str:
    """What client-go makes of a non-2xx answer: its Status, or a message for the code."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status" and body.get("status") == "Failure":
        return str(body.get("message", ""))
    media = reply.headers.get("content-type", "").split(";")[0].strip()
    text = "unknown"
    if not media or media.startswith("text/"):
        text = reply.content[:_MAX_ERROR_BODY].decode(errors="replace").strip()
    code = reply.status_code
    if code in (403, 415) or (code == 406 and text not in ("", "unknown")):
        return text
    if code == 406:
        return "the server was unable to respond with a content type that the client supports"
    if code in _GENERIC_ERRORS:
        return _GENERIC_ERRORS[code]
    if code >= 500:
        return f"an error on the server ({_quoted(text)}) has prevented the request from succeeding"
    return f"the server responded with the status code {code} but did not return more information"


def _body(reply: httpx.Response) -> Obj:
    """The decoded answer of a webhook, or the failure client-go reports instead."""
    if not reply.is_success:
        raise _CallError(f"failed to call webhook: {_error_answer(reply)}")
    if not reply.content:
        content_type = reply.headers.get("content-type", "")
        raise _CallError(
            "failed to call webhook: 0-length response with status code:"
            f" {reply.status_code} and content type: {content_type}"
        )
    try:
        body = json.loads(reply.content)
    except ValueError as exc:
        raise _CallError(
            f"failed to call webhook: couldn't get version/kind; json parse error: {exc}"
        ) from None
    if not isinstance(body, dict):
        raise _CallError(
            "failed to call webhook: couldn't get version/kind; json parse error:"
            " the answer is not a JSON object"
        )
    return body


def _invalid(why: str) -> _CallError:
    return _CallError(f"received invalid webhook response: {why}")


def _verified(body: Obj, uid: str, version: str, mutating: bool) -> Obj:
    """The ``response`` of an AdmissionReview, checked as upstream checks it."""
    response = body.get("response")
    if not isinstance(response, dict):
        raise _invalid("webhook response was absent")
    if version == "v1beta1":  # checked less, and a patch is a JSONPatch
        if mutating and response.get("patch"):
            return {**response, "patchType": "JSONPatch"}
        return {key: value for key, value in response.items() if mutating or key != "patch"}
    if response.get("uid") != uid:
        raise _invalid(f"expected response.uid={_quoted(uid)}, got {_quoted(response.get('uid'))}")
    api_version, kind = str(body.get("apiVersion") or ""), str(body.get("kind") or "")
    if (api_version, kind) != ("admission.k8s.io/v1", "AdmissionReview"):
        group, _, version_ = api_version.rpartition("/")
        raise _invalid(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview,"
            f" got {group}/{version_}, Kind={kind}"
        )
    has_patch, patch_type = bool(response.get("patch")), response.get("patchType")
    if not mutating and has_patch:
        raise _invalid("validating webhook may not return response.patch")
    if not mutating and patch_type is not None:
        raise _invalid("validating webhook may not return response.patchType")
    if has_patch and patch_type is None:
        raise _invalid("webhook returned response.patch but not response.patchType")
    if not has_patch and patch_type is not None:
        raise _invalid("webhook returned response.patchType but not response.patch")
    if has_patch and not patch_type:
        raise _invalid(f"webhook returned invalid response.patchType of {_quoted(patch_type)}")
    return response


def _patch_operations(response: Obj) -> list[Any]:
    """The JSON patch operations of an allowed response (base64 in the JSON, JSONPatch only)."""
    patch = response.get("patch")
    if not patch:
        return []
    try:
        operations = json.loads(base64.b64decode(str(patch), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _CallError(f"received undecodable patch in webhook response: {exc}") from None
    if not isinstance(operations, list):
        raise _CallError(
            "received undecodable patch in webhook response: json: cannot unmarshal"
            " object into Go value of type jsonpatch.Patch"
        )
    if operations and response.get("patchType") != "JSONPatch":
        raise _CallError(f"unsupported patch type {_quoted(response.get('patchType'))}")
    return operations


# -- transport -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _client_context(ca_bundle: str) -> ssl.SSLContext:
    """Trust the caBundle's CAs alone; without one, the system's roots, as upstream."""
    if not ca_bundle:
        return ssl.create_default_context()
    return ssl.create_default_context(cadata=base64.b64decode(ca_bundle, validate=True).decode())


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """An exception and what caused it, through exception groups too."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


# OpenSSL's verification results that mean "not signed by a CA I trust".
_UNKNOWN_AUTHORITY = frozenset({2, 18, 19, 20, 21})
_NAME_MISMATCH = frozenset({62, 64})  # hostname, IP address


def _transport_error(exc: httpx.HTTPError, url: str, server_name: str | None) -> str:
    """A connection failure in the words of Go's HTTP client, as upstream reports it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = f"{host}:{parts.port or 443}"
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            if cause.verify_code in _UNKNOWN_AUTHORITY:
                detail = "certificate signed by unknown authority"
            elif cause.verify_code in _NAME_MISMATCH:
                detail = f"certificate is not valid for {server_name or host}"
            else:
                detail = cause.verify_message
            return f"tls: failed to verify certificate: x509: {detail}"
        if isinstance(cause, ConnectionRefusedError):
            return f"dial tcp {address}: connect: connection refused"
        if isinstance(cause, socket.gaierror):
            return f"dial tcp: lookup {host}: no such host"
        if isinstance(cause, ssl.SSLError):
            return f"remote error: tls: {cause.reason or cause}"
    return str(exc) or type(exc).__name__
