"""HTTP handlers for resource requests: verbs, content negotiation, responses.

Every request under ``/api`` and ``/apis`` that names a resource comes here
as a :class:`~.routing.RequestInfo`; discovery, OpenAPI and health are in
:mod:`.server`. Errors are raised as :class:`~.errors.ApiError` and turned
into ``Status`` bodies in one place.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from labplatform.clusters.embedded.apiserver import errors, protobuf, rbac, tables
from labplatform.clusters.embedded.apiserver.api import Api, WriteOptions
from labplatform.clusters.embedded.apiserver.node import LogOptions, NodeRuntime
from labplatform.clusters.embedded.apiserver.registry import ResourceType
from labplatform.clusters.embedded.apiserver.routing import RequestInfo
from labplatform.clusters.embedded.apiserver.selectors import (
    FIELD_LABELS,
    parse_field_selector,
    parse_label_selector,
)
from labplatform.clusters.embedded.apiserver.store import Obj
from labplatform.clusters.embedded.apiserver.tokens import (
    API_AUDIENCE,
    DEFAULT_EXPIRATION,
    MIN_EXPIRATION,
    TokenIssuer,
)
from labplatform.clusters.embedded.apiserver.watch import WatchRequest, watch_events

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
TABLE_MEDIA = "as=Table"


def json_response(body: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, media_type=media_type)


def status_response(error: errors.ApiError) -> Response:
    return json_response(error.status(), error.code)


class ResourceHandlers:
    """The verbs of every resource, bound to one cluster's :class:`Api`."""

    def __init__(
        self, api: Api, tokens: TokenIssuer, node: Callable[[], NodeRuntime | None]
    ) -> None:
        self.api = api
        self.tokens = tokens
        self.node = node
        self.authorizer = rbac.Authorizer(api.store)  # every request's, and can-i's

    async def handle(self, request: Request, info: RequestInfo) -> Response:
        rt = self.api.registry.get(info.group, info.version, info.resource)
        if rt is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if info.namespace and not rt.namespaced:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if info.subresource and info.subresource not in rt.subresources:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        method = request.method
        if info.subresource == "log" and method == "GET":
            return await self.pod_log(request, rt, info)
        if info.subresource in ("exec", "portforward", "attach"):
            raise errors.bad_request(
                f"{info.subresource} needs a websocket upgrade (v5.channel.k8s.io or "
                "SPDY/3.1+portforward.k8s.io)"
            )
        if info.subresource == "scale":
            return await self.scale(request, rt, info)
        if info.subresource == "token" and method == "POST":
            return await self.token_request(request, rt, info)
        if rt.key == "authentication.k8s.io/tokenreviews" and method == "POST":
            return await self.token_review(request)
        if rt.key == "authorization.k8s.io/selfsubjectaccessreviews" and method == "POST":
            return await self.access_review(request)
        if not info.name:
            if method == "GET":
                return await self.collection(request, rt, info)
            if method == "POST":
                return await self.create(request, rt, info)
            if method == "DELETE":
                return await self.delete_collection(request, rt, info)
        else:
            if method == "GET":
                obj = self.api.get(rt, info.namespace, info.name)
                return self.object_response(request, rt, info, obj)
            if method == "PUT":
                return await self.update(request, rt, info)
            if method == "PATCH":
                return await self.patch(request, rt, info)
            if method == "DELETE":
                return await self.delete(request, rt, info)
        raise errors.method_not_allowed(f"the server does not allow this method on {rt.plural}")

    # -- reads -------------------------------------------------------------

    async def collection(self, request: Request, rt: ResourceType, info: RequestInfo) -> Response:
        query = request.query_params
        matches = self.selector(rt, query)
        namespace = info.namespace if rt.namespaced and info.namespace else None
        if query.get("watch") in ("true", "1"):
            watch = WatchRequest.from_query(rt.key, namespace, matches, query)
            return self.watch_response(request, rt, info, watch)
        items = [obj for obj in self.api.objects(rt, namespace) if matches(obj)]
        rv = str(self.api.store.resource_version)
        meta: dict[str, Any] = {"resourceVersion": rv}
        items, token, remaining = _paginate(items, query.get("limit"), query.get("continue"), rv)
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        if _wants_table(request):
            return json_response(self.table(request, rt, info, items, meta))
        api_version = rt.api_version(info.version)
        encoded = (
            self.api.store.encoded(rt.key, obj)
            if obj.get("apiVersion") == api_version
            else json.dumps(_at_version(obj, rt, info.version), separators=(",", ":"))
            for obj in items
        )
        envelope = json.dumps(
            {"kind": f"{rt.kind}List", "apiVersion": api_version, "metadata": meta},
            separators=(",", ":"),
        )
        # The stored objects are already JSON: splice them in rather than encode them again.
        body = envelope[:-1] + ',"items":[' + ",".join(encoded) + "]}"
        return Response(body, media_type="application/json")

    def selector(self, rt: ResourceType, query: Any) -> Callable[[Obj], bool]:
        labels = parse_label_selector(query.get("labelSelector", ""))
        # Custom resources select on name (and namespace); built-ins on their own labels.
        supported = (
            {"metadata.name", *(("metadata.namespace",) if rt.namespaced else ())}
            if rt.custom
            else FIELD_LABELS.get(rt.kind)
        )
        fields = parse_field_selector(query.get("fieldSelector", ""), supported)

        def matches(obj: Obj) -> bool:
            return labels.matches(obj["metadata"].get("labels") or {}) and fields.matches(obj)

        return matches

    def object_response(
        self, request: Request, rt: ResourceType, info: RequestInfo, obj: Obj, status: int = 200
    ) -> Response:
        if _wants_table(request):
            return json_response(self.table(request, rt, info, [obj], {}), status)
        return json_response(_at_version(obj, rt, info.version), status)

    def table(
        self,
        request: Request,
        rt: ResourceType,
        info: RequestInfo,
        objects: list[Obj],
        meta: dict[str, Any],
        with_columns: bool = True,
    ) -> dict[str, Any]:
        include = request.query_params.get("includeObject", "Metadata")
        table = tables.build_table(
            self.columns(rt, info.version),
            [_at_version(obj, rt, info.version) for obj in objects],
            include_object=include,
            list_meta=meta,
        )
        if not with_columns:
            table["columnDefinitions"] = []
        return table

    def columns(self, rt: ResourceType, version: str) -> list[tables.Column]:
        if rt.custom:
            printer = rt.crd_versions.get(version, {}).get("additionalPrinterColumns", [])
            return tables.columns_from_printer_columns(printer)
        return tables.BUILTIN_COLUMNS.get(rt.kind, tables.DEFAULT_COLUMNS)

    def watch_response(
        self, request: Request, rt: ResourceType, info: RequestInfo, watch: WatchRequest
    ) -> StreamingResponse:
        as_table = _wants_table(request)

        async def lines() -> AsyncIterator[bytes]:
            first = True
            async for kind, obj in watch_events(self.api.store, watch):
                if kind == "ERROR":
                    payload: Any = obj
                elif kind == "BOOKMARK":
                    payload = {"kind": rt.kind, "apiVersion": rt.api_version(info.version), **obj}
                elif as_table:
                    payload = self.table(request, rt, info, [obj], {}, with_columns=first)
                    first = False
                else:
                    payload = _at_version(obj, rt, info.version)
                yield json.dumps({"type": kind, "object": payload}).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/json")

    async def pod_log(self, request: Request, rt: ResourceType, info: RequestInfo) -> Response:
        pod = self.api.get(rt, info.namespace, info.name)
        query = request.query_params
        containers = [c["name"] for c in pod["spec"].get("containers", [])]
        container = query.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            raise errors.bad_request(
                f"a container name must be specified for pod {info.name}, choose one of: "
                f"[{' '.join(containers)}]"
            )
        all_names = containers + [c["name"] for c in pod["spec"].get("initContainers", [])]
        if container not in all_names:
            raise errors.bad_request(f"container {container} is not valid for pod {info.name}")
        node = self.node()
        if node is None or pod.get("status", {}).get("phase") == "Pending":
            raise errors.bad_request(
                f'container "{container}" in pod "{info.name}" is waiting to start: '
                "ContainerCreating"
            )
        options = LogOptions(
            container=container,
            follow=query.get("follow") == "true",
            previous=query.get("previous") == "true",
            tail_lines=_int(query.get("tailLines")),
            since_seconds=_int(query.get("sinceSeconds")),
            timestamps=query.get("timestamps") == "true",
            limit_bytes=_int(query.get("limitBytes")),
        )
        return StreamingResponse(node.logs(pod, options), media_type="text/plain")

    # -- service-account tokens -------------------------------------------------

    async def token_request(
        self, request: Request, rt: ResourceType, info: RequestInfo
    ) -> Response:
        """``serviceaccounts/token``: a bound token, as the kubelet projects into pods."""
        account = self.api.get(rt, info.namespace, info.name)
        body = await _read_body(request)
        spec = body.get("spec", {}) if isinstance(body, dict) else {}
        audiences = list(spec.get("audiences") or [API_AUDIENCE])
        expiration = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
        if not isinstance(expiration, int) or expiration < MIN_EXPIRATION:
            raise errors.invalid(
                "TokenRequest",
                info.name,
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        "may not specify a duration less than 10 minutes",
                        "spec.expirationSeconds",
                    )
                ],
                "authentication.k8s.io",
            )
        pod = None
        bound = spec.get("boundObjectRef") or {}
        if bound:
            if bound.get("kind") != "Pod":
                raise errors.bad_request(f"cannot bind token to a {bound.get('kind')}: only Pod")
            pod = self.api.get(self.api.registry.by_key("/pods"), info.namespace, bound["name"])
            if bound.get("uid") and bound["uid"] != pod["metadata"]["uid"]:
                raise errors.conflict("pods", bound["name"], why="the object has a different uid")
        token, expiry = self.tokens.issue(info.namespace, account, audiences, expiration, pod)
        return json_response(
            {
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": info.name, "namespace": info.namespace},
                "spec": {**spec, "audiences": audiences, "expirationSeconds": expiration},
                "status": {
                    "token": token,
                    "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)),
                },
            },
            201,
        )

    async def token_review(self, request: Request) -> Response:
        """``tokenreviews``: who holds this token, if it is still good."""
        body = await _read_body(request)
        spec = body.get("spec", {}) if isinstance(body, dict) else {}
        audiences = list(spec.get("audiences") or [API_AUDIENCE])
        status: dict[str, Any] = {"authenticated": False, "user": {}}
        try:
            status = {"authenticated": True, **self.identity(spec.get("token", ""), audiences)}
        except ValueError as exc:
            status["error"] = str(exc)
        return json_response(
            {
                "kind": "TokenReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            },
            201,
        )

    async def access_review(self, request: Request) -> Response:
        """``kubectl auth can-i``: what RBAC says of the caller and the attributes they give."""
        body = await _read_body(request)
        spec = body.get("spec", {}) if isinstance(body, dict) else {}
        resource = spec.get("resourceAttributes") or {}
        if resource.get("resource"):
            fields = ("verb", "group", "resource", "subresource", "namespace", "name")
            attrs = rbac.Attributes(**{f: str(resource.get(f, "")) for f in fields})
        else:
            other = spec.get("nonResourceAttributes") or {}
            attrs = rbac.Attributes(
                verb=str(other.get("verb", "")), path=str(other.get("path", ""))
            )
        user = request.scope.get("state", {}).get("user", rbac.ADMIN)
        allowed = self.authorizer.allowed(user, attrs)
        return json_response(
            {
                "kind": "SelfSubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": {"allowed": allowed},
            },
            201,
        )

    def identity(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The user a service-account token stands for; its account and pod must still exist."""
        claims = self.tokens.verify(token, audiences)
        private = claims.get("kubernetes.io", {})
        namespace = private.get("namespace", "")
        account = private.get("serviceaccount", {})
        live = self.api.store.get("/serviceaccounts", namespace, account.get("name", ""))
        if live is None or live["metadata"]["uid"] != account.get("uid"):
            raise ValueError("service account has been deleted")
        extra: dict[str, list[str]] = {}
        if "pod" in private:
            pod = self.api.store.get("/pods", namespace, private["pod"]["name"])
            if pod is None or pod["metadata"]["uid"] != private["pod"]["uid"]:
                raise ValueError("the pod this token was bound to has been deleted")
            extra = {
                "authentication.kubernetes.io/pod-name": [private["pod"]["name"]],
                "authentication.kubernetes.io/pod-uid": [private["pod"]["uid"]],
            }
        user = {
            "username": claims["sub"],
            "uid": account.get("uid", ""),
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
            "extra": extra,
        }
        return {"user": user, "audiences": claims.get("aud", [])}

    # -- writes ------------------------------------------------------------

    async def create(self, request: Request, rt: ResourceType, info: RequestInfo) -> Response:
        body = await _read_body(request)
        obj = await self.api.create(rt, info.namespace, body, _write_options(request))
        return self.object_response(request, rt, info, obj, 201)

    async def update(self, request: Request, rt: ResourceType, info: RequestInfo) -> Response:
        body = await _read_body(request)
        obj = await self.api.update(
            rt, info.namespace, info.name, body, info.subresource, _write_options(request)
        )
        return self.object_response(request, rt, info, obj)

    async def patch(self, request: Request, rt: ResourceType, info: RequestInfo) -> Response:
        patch_type, body = await _read_patch(request)
        obj = await self.api.patch(
            rt,
            info.namespace,
            info.name,
            patch_type,
            body,
            info.subresource,
            _write_options(request),
        )
        return self.object_response(request, rt, info, obj)

    async def scale(self, request: Request, rt: ResourceType, info: RequestInfo) -> Response:
        opts = _write_options(request)
        if request.method == "GET":
            scale = self.api.get_scale(rt, info.namespace, info.name)
        elif request.method == "PUT":
            body = await _read_body(request)
            scale = await self.api.update_scale(rt, info.namespace, info.name, body, opts)
        elif request.method == "PATCH":
            patch_type, body = await _read_patch(request)
            scale = await self.api.patch_scale(
                rt, info.namespace, info.name, patch_type, body, opts
            )
        else:
            raise errors.method_not_allowed("the server does not allow this method on scale")
        return json_response(scale)

    async def delete(self, request: Request, rt: ResourceType, info: RequestInfo) -> Response:
        options = await _delete_options(request)
        obj = await self.api.delete(
            rt,
            info.namespace,
            info.name,
            grace_period=options["grace"],
            propagation=options["propagation"],
            preconditions=options["preconditions"],
            opts=_write_options(request),
        )
        if self.api.store.get(rt.key, info.namespace if rt.namespaced else "", info.name):
            return self.object_response(request, rt, info, obj)
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": info.name,
                    "group": rt.group,
                    "kind": rt.plural,
                    "uid": obj["metadata"].get("uid", ""),
                },
            }
        )

    async def delete_collection(
        self, request: Request, rt: ResourceType, info: RequestInfo
    ) -> Response:
        options = await _delete_options(request)
        matches = self.selector(rt, request.query_params)
        namespace = info.namespace if rt.namespaced and info.namespace else None
        doomed = [obj for obj in self.api.objects(rt, namespace) if matches(obj)]
        deleted = []
        for obj in doomed:
            meta = obj["metadata"]
            try:
                deleted.append(
                    await self.api.delete(
                        rt,
                        meta.get("namespace", ""),
                        meta["name"],
                        grace_period=options["grace"],
                        propagation=options["propagation"],
                        opts=_write_options(request),
                    )
                )
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        return json_response(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version(info.version),
                "metadata": {"resourceVersion": str(self.api.store.resource_version)},
                "items": [_at_version(obj, rt, info.version) for obj in deleted],
            }
        )


# -- request parsing -----------------------------------------------------------


async def _read_body(request: Request) -> Any:
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type in ("application/yaml", "application/apply-patch+yaml"):
        return _parse_yaml(raw)
    if content_type == protobuf.MEDIA_TYPE:
        return protobuf.decode(raw)
    if content_type not in ("application/json", "", "*/*") and content_type not in PATCH_TYPES:
        raise errors.unsupported_media_type(content_type)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request(f"the body of the request is not valid JSON: {exc}") from None


def _parse_yaml(raw: bytes) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"the body of the request is not valid YAML: {exc}") from None


async def _read_patch(request: Request) -> tuple[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    patch_type = PATCH_TYPES.get(content_type)
    if patch_type is None:
        raise errors.unsupported_media_type(content_type)
    return patch_type, await _read_body(request)


def _write_options(request: Request) -> WriteOptions:
    query = request.query_params
    dry_run = query.getlist("dryRun")
    if any(value != "All" for value in dry_run):
        raise errors.bad_request(f"unsupported dry run value: {dry_run}; only All is supported")
    return WriteOptions(
        dry_run=bool(dry_run),
        field_manager=query.get("fieldManager", "") or _user_agent_manager(request),
        force=query.get("force") == "true",
        field_validation=query.get("fieldValidation") or "Warn",
    )


def _user_agent_manager(request: Request) -> str:
    """Upstream names an unnamed writer after its user agent's program name."""
    agent = request.headers.get("user-agent", "")
    return agent.split("/")[0] if agent else ""


async def _delete_options(request: Request) -> dict[str, Any]:
    raw = await request.body()
    body: dict[str, Any] = {}
    if raw.strip():
        parsed = json.loads(raw) if raw.strip().startswith(b"{") else _parse_yaml(raw)
        body = parsed if isinstance(parsed, dict) else {}
    query = request.query_params
    grace = body.get("gracePeriodSeconds", _int(query.get("gracePeriodSeconds")))
    propagation = body.get("propagationPolicy") or query.get("propagationPolicy")
    if body.get("orphanDependents") is True or query.get("orphanDependents") == "true":
        propagation = "Orphan"
    if propagation not in (None, "Orphan", "Foreground", "Background"):
        raise errors.bad_request(
            f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
            '"Foreground", "Background", "Orphan"'
        )
    return {
        "grace": grace,
        "propagation": propagation,
        "preconditions": body.get("preconditions") or {},
    }


def _wants_table(request: Request) -> bool:
    return TABLE_MEDIA in request.headers.get("accept", "")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        raise errors.bad_request(f"invalid integer: {value!r}") from None


def _at_version(obj: Obj, rt: ResourceType, version: str) -> Obj:
    """A custom resource as seen at the version asked for (the schemas are the same)."""
    api_version = rt.api_version(version)
    if obj.get("apiVersion") == api_version:
        return obj
    return {**obj, "apiVersion": api_version}


def _paginate(
    items: list[Obj], limit: str | None, token: str | None, rv: str
) -> tuple[list[Obj], str, int]:
    """``limit``/``continue`` chunking; the token carries the offset into the listing."""
    start = 0
    if token:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            start = int(state["start"])
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request("continue key is not valid: incorrect encoded start") from None
    if not limit or not limit.isdigit() or int(limit) <= 0:
        return items[start:], "", 0
    end = start + int(limit)
    if end >= len(items):
        return items[start:], "", 0
    state = {"rv": rv, "start": end}
    next_token = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    return items[start:end], next_token, len(items) - end


__all__ = ["ResourceHandlers", "json_response", "status_response"]
