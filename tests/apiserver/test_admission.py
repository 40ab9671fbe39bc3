"""Admission webhooks called over real HTTPS, matched and answered as upstream does."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from labplatform.clusters.embedded.apiserver.admission import AdmissionRequest, WebhookAdmission
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.pki import ClusterCredentials

Review = dict[str, Any]
Answer = Callable[[Review], Awaitable[Response]]


def reply(review: Review, **response: Any) -> Response:
    return JSONResponse(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], **response},
        }
    )


def patch_answer(*operations: dict[str, Any]) -> Answer:
    async def answer(review: Review) -> Response:
        patch = base64.b64encode(json.dumps(operations).encode()).decode()
        return reply(review, allowed=True, patchType="JSONPatch", patch=patch)

    return answer


def deny_answer(status: dict[str, Any]) -> Answer:
    async def answer(review: Review) -> Response:
        return reply(review, allowed=False, status=status)

    return answer


def raw_answer(response: Response) -> Answer:
    async def answer(review: Review) -> Response:
        return response

    return answer


async def allow(review: Review) -> Response:
    return reply(review, allowed=True)


@dataclass
class HookServer:
    """A webhook server on loopback: answers by path, and keeps what it was sent."""

    url: str
    ca_bundle: str
    answers: dict[str, Answer] = field(default_factory=dict)
    calls: list[tuple[str, str, Review]] = field(default_factory=list)  # path, query, review

    async def endpoint(self, request: Request) -> Response:
        review = await request.json()
        self.calls.append((request.url.path, request.url.query, review))
        return await self.answers.get(request.url.path, allow)(review)

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.calls]


async def serve_hooks(credentials: ClusterCredentials) -> AsyncIterator[HookServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    hooks = HookServer(
        f"https://127.0.0.1:{sock.getsockname()[1]}",
        base64.b64encode(credentials.ca_pem).decode(),
    )
    app = Starlette(routes=[Route("/{path:path}", hooks.endpoint, methods=["POST"])])
    config = uvicorn.Config(
        app,
        ssl_certfile=str(credentials.server_cert_path),
        ssl_keyfile=str(credentials.server_key_path),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    try:
        yield hooks
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[HookServer]:
    credentials = ClusterCredentials.load_or_create(
        tmp_path / "hook-pki", extra_names=("istiod.istio-system.svc",)
    )
    async for server in serve_hooks(credentials):
        yield server


def rule(
    operations: list[str] | None = None,
    groups: list[str] | None = None,
    versions: list[str] | None = None,
    resources: list[str] | None = None,
    scope: str = "*",
) -> dict[str, Any]:
    """A rule for creating pods, changed by the arguments."""
    return {
        "operations": operations or ["CREATE"],
        "apiGroups": groups or [""],
        "apiVersions": versions or ["v1"],
        "resources": resources or ["pods"],
        "scope": scope,
    }


def webhook(name: str, url: str, ca_bundle: str, **settings: Any) -> dict[str, Any]:
    """A webhook for pods as the API stores it (defaults filled in), changed by ``settings``."""
    return {
        "name": name,
        "clientConfig": {"url": url, "caBundle": ca_bundle},
        "rules": [rule()],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1"],
        **settings,
    }


def configuration(kind: str, name: str, *webhooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": f"{kind}WebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": list(webhooks),
    }


def pod_request(**changes: Any) -> AdmissionRequest:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "lab", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    }
    request = AdmissionRequest(
        uid="0f3c6f4e-7d7b-4f8e-9d2a-4f1b8e8f2a11",
        kind={"group": "", "version": "v1", "kind": "Pod"},
        resource={"group": "", "version": "v1", "resource": "pods"},
        sub_resource="",
        name="web",
        namespace="lab",
        operation="CREATE",
        user_info={"username": "learner", "groups": ["system:authenticated"]},
        object=pod,
        old_object=None,
        dry_run=False,
        options={"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    )
    return replace(request, **changes)


NAMESPACES = {"lab": {"istio-injection": "enabled"}, "plain": {}}


def admission(*configurations: dict[str, Any], **kwargs: Any) -> WebhookAdmission:
    return WebhookAdmission(
        lambda: list(configurations), lambda name: NAMESPACES.get(name, {}), **kwargs
    )


def refused_port() -> socket.socket:
    """A bound socket that does not listen: connecting to it is refused, every time."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


# -- mutating ----------------------------------------------------------------------------


async def test_a_mutating_hook_adds_a_label_and_a_sidecar(hooks: HookServer) -> None:
    hooks.answers["/inject"] = patch_answer(
        {"op": "add", "path": "/metadata/labels/security.istio.io~1tlsMode", "value": "istio"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "istio-proxy"}},
    )
    hook = webhook("sidecar-injector.istio.io", f"{hooks.url}/inject", hooks.ca_bundle)
    request = pod_request()

    pod = await admission(configuration("Mutating", "istio-sidecar-injector", hook)).mutate(request)

    assert pod["metadata"]["labels"] == {"app": "web", "security.istio.io/tlsMode": "istio"}
    assert [c["name"] for c in pod["spec"]["containers"]] == ["web", "istio-proxy"]
    assert request.object is not None and len(request.object["spec"]["containers"]) == 1
    [(_, query, review)] = hooks.calls
    assert query == "timeout=10s"
    assert review["apiVersion"] == "admission.k8s.io/v1"
    assert review["kind"] == "AdmissionReview"
    sent = review["request"]
    assert sent["uid"] == request.uid
    assert sent["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert sent["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert (sent["namespace"], sent["name"], sent["operation"]) == ("lab", "web", "CREATE")
    assert sent["object"] == request.object
    assert sent["oldObject"] is None
    assert sent["dryRun"] is False
    assert sent["userInfo"]["username"] == "learner"
    assert "subResource" not in sent


async def test_mutating_hooks_run_in_order_and_see_earlier_patches(hooks: HookServer) -> None:
    hooks.answers["/first"] = patch_answer(
        {"op": "add", "path": "/metadata/labels/stage", "value": "first"}
    )
    hooks.answers["/second"] = patch_answer(
        {"op": "replace", "path": "/metadata/labels/stage", "value": "second"}
    )
    first = webhook("first.example.com", f"{hooks.url}/first", hooks.ca_bundle)
    # Selected by the label the first webhook adds, so it runs only after it.
    second = webhook(
        "second.example.com",
        f"{hooks.url}/second",
        hooks.ca_bundle,
        objectSelector={"matchLabels": {"stage": "first"}},
    )
    configurations = (
        configuration("Mutating", "b-runs-second", second),
        configuration("Mutating", "a-runs-first", first),
    )

    pod = await admission(*configurations).mutate(pod_request())

    assert pod["metadata"]["labels"]["stage"] == "second"
    assert hooks.paths() == ["/first", "/second"]
    assert hooks.calls[1][2]["request"]["object"]["metadata"]["labels"]["stage"] == "first"


async def test_a_mutating_hook_may_refuse(hooks: HookServer) -> None:
    hooks.answers["/inject"] = deny_answer({"message": "no sidecar for you"})
    hook = webhook("inject.example.com", f"{hooks.url}/inject", hooks.ca_bundle)
    with pytest.raises(ApiError) as refused:
        await admission(configuration("Mutating", "injector", hook)).mutate(pod_request())
    assert refused.value.message == (
        'admission webhook "inject.example.com" denied the request: no sidecar for you'
    )


async def test_a_patch_that_does_not_apply_is_an_internal_error(hooks: HookServer) -> None:
    hooks.answers["/inject"] = patch_answer(
        {"op": "replace", "path": "/spec/volumes/0/name", "value": "x"}
    )
    hook = webhook("inject.example.com", f"{hooks.url}/inject", hooks.ca_bundle)
    with pytest.raises(ApiError) as failed:
        await admission(configuration("Mutating", "injector", hook)).mutate(pod_request())
    assert (failed.value.code, failed.value.reason) == (500, "InternalError")
    assert failed.value.message.startswith("Internal error occurred: ")


# -- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "request_changes", "called"),
    [
        ({}, {}, True),
        ({"namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}}, {}, True),
        (
            {"namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}},
            {"namespace": "plain"},
            False,
        ),
        (
            {
                "namespaceSelector": {
                    "matchExpressions": [{"key": "istio-injection", "operator": "DoesNotExist"}]
                }
            },
            {},
            False,
        ),
        ({"objectSelector": {"matchLabels": {"app": "web"}}}, {}, True),
        ({"objectSelector": {"matchLabels": {"app": "db"}}}, {}, False),
        ({"rules": [rule(operations=["UPDATE"])]}, {}, False),
        ({"rules": [rule(operations=["*"], groups=["apps"], resources=["*"])]}, {}, False),
        ({"rules": [rule(groups=["*"], versions=["v1beta1"])]}, {}, False),
        ({"rules": [rule(resources=["configmaps"])]}, {}, False),
        ({"rules": [rule(resources=["configmaps"]), rule()]}, {}, True),
        ({"rules": [rule(scope="Cluster")]}, {}, False),
        ({"rules": [rule(scope="Namespaced")]}, {}, True),
        ({}, {"sub_resource": "status"}, False),  # "pods" leaves pods/status out
        ({"rules": [rule(resources=["pods/status"])]}, {"sub_resource": "status"}, True),
        ({"rules": [rule(resources=["*"])]}, {"sub_resource": "status"}, False),
        ({"rules": [rule(resources=["*/*"])]}, {"sub_resource": "status"}, True),
        ({"rules": [rule(resources=["*/status"])]}, {"sub_resource": "status"}, True),
    ],
)
async def test_only_matching_webhooks_are_called(
    hooks: HookServer,
    settings: dict[str, Any],
    request_changes: dict[str, Any],
    called: bool,
) -> None:
    hook = webhook("check.example.com", f"{hooks.url}/validate", hooks.ca_bundle, **settings)
    await admission(configuration("Validating", "checks", hook)).validate(
        pod_request(**request_changes)
    )
    assert hooks.paths() == (["/validate"] if called else [])


async def test_a_namespace_is_selected_by_its_own_labels(hooks: HookServer) -> None:
    hook = webhook(
        "namespaces.example.com",
        f"{hooks.url}/validate",
        hooks.ca_bundle,
        rules=[rule(resources=["*"])],
        namespaceSelector={"matchLabels": {"team": "mesh"}},
    )
    checks = admission(configuration("Validating", "checks", hook))

    def namespace(labels: dict[str, str]) -> AdmissionRequest:
        return pod_request(
            kind={"group": "", "version": "v1", "kind": "Namespace"},
            resource={"group": "", "version": "v1", "resource": "namespaces"},
            name="mesh",
            namespace="",
            object={"metadata": {"name": "mesh", "labels": labels}},
        )

    await checks.validate(namespace({}))
    await checks.validate(namespace({"team": "mesh"}))
    assert len(hooks.calls) == 1
    assert hooks.calls[0][2]["request"]["object"]["metadata"]["labels"] == {"team": "mesh"}


async def test_a_deletion_is_shown_with_the_old_object(hooks: HookServer) -> None:
    hook = webhook(
        "guard.example.com",
        f"{hooks.url}/validate",
        hooks.ca_bundle,
        rules=[rule(operations=["DELETE"])],
        objectSelector={"matchLabels": {"app": "web"}},
    )
    pod = pod_request().object
    await admission(configuration("Validating", "guards", hook)).validate(
        pod_request(operation="DELETE", object=None, old_object=pod)
    )
    [(_, _, review)] = hooks.calls
    assert review["request"]["object"] is None
    assert review["request"]["oldObject"] == pod


async def test_a_v1beta1_webhook_gets_a_v1beta1_review(hooks: HookServer) -> None:
    async def legacy(review: Review) -> Response:
        patch = [{"op": "add", "path": "/metadata/labels/legacy", "value": "yes"}]
        response = {"uid": review["request"]["uid"], "allowed": True}
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        return JSONResponse({**review, "response": response})  # no patchType in v1beta1

    hooks.answers["/legacy"] = legacy
    hook = webhook(
        "legacy.example.com",
        f"{hooks.url}/legacy",
        hooks.ca_bundle,
        admissionReviewVersions=["v1beta2", "v1beta1", "v1"],
    )
    pod = await admission(configuration("Mutating", "legacy", hook)).mutate(pod_request())
    assert pod["metadata"]["labels"]["legacy"] == "yes"
    assert hooks.calls[0][2]["apiVersion"] == "admission.k8s.io/v1beta1"


# -- validating ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "reason", "message"),
    [
        (
            {"message": "configuration is invalid: total destination weight 90 != 100"},
            400,
            "",
            'admission webhook "validation.istio.io" denied the request: configuration is'
            " invalid: total destination weight 90 != 100",
        ),
        (
            {"code": 403, "reason": "Forbidden", "message": "not on my watch"},
            403,
            "Forbidden",
            'admission webhook "validation.istio.io" denied the request: not on my watch',
        ),
        (
            {"code": 200, "reason": "NotAcceptable"},
            400,
            "NotAcceptable",
            'admission webhook "validation.istio.io" denied the request: NotAcceptable',
        ),
        (
            {},
            400,
            "",
            'admission webhook "validation.istio.io" denied the request without explanation',
        ),
    ],
)
async def test_a_refusal_reads_as_upstreams(
    hooks: HookServer, status: dict[str, Any], code: int, reason: str, message: str
) -> None:
    hooks.answers["/validate"] = deny_answer(status)
    hook = webhook("validation.istio.io", f"{hooks.url}/validate", hooks.ca_bundle)
    with pytest.raises(ApiError) as refused:
        await admission(configuration("Validating", "istio-validator", hook)).validate(
            pod_request()
        )
    assert (refused.value.code, refused.value.reason, refused.value.message) == (
        code,
        reason,
        message,
    )


async def test_validating_hooks_are_called_together(hooks: HookServer) -> None:
    async def slow(review: Review) -> Response:
        await asyncio.sleep(1)
        return reply(review, allowed=True)

    hooks.answers["/slow"] = slow
    hook = webhook("slow.example.com", f"{hooks.url}/slow", hooks.ca_bundle)
    checks = admission(
        *(configuration("Validating", f"slow-{n}", {**hook, "name": f"{n}.slow"}) for n in range(3))
    )
    started = time.monotonic()
    await checks.validate(pod_request())
    assert time.monotonic() - started < 2.5
    assert hooks.paths() == ["/slow"] * 3


async def test_dry_run_reaches_only_hooks_without_side_effects(hooks: HookServer) -> None:
    quiet = webhook("quiet.example.com", f"{hooks.url}/quiet", hooks.ca_bundle)
    await admission(configuration("Validating", "quiet", quiet)).validate(pod_request(dry_run=True))
    assert hooks.calls[0][2]["request"]["dryRun"] is True

    noisy = webhook("noisy.example.com", f"{hooks.url}/noisy", hooks.ca_bundle, sideEffects="Some")
    with pytest.raises(ApiError) as refused:
        await admission(configuration("Validating", "noisy", noisy)).validate(
            pod_request(dry_run=True)
        )
    assert (refused.value.code, refused.value.reason, refused.value.message) == (
        400,
        "BadRequest",
        'admission webhook "noisy.example.com" does not support dry run',
    )
    assert hooks.paths() == ["/quiet"]


# -- failures ------------------------------------------------------------------------------


async def test_an_unreachable_hook_fails_closed() -> None:
    with refused_port() as sock:
        port = sock.getsockname()[1]
        hook = webhook("validation.istio.io", f"https://127.0.0.1:{port}/validate", "")
        with pytest.raises(ApiError) as failed:
            await admission(configuration("Validating", "istio", hook)).validate(pod_request())
    cause = (
        'failed calling webhook "validation.istio.io": failed to call webhook: Post'
        f' "https://127.0.0.1:{port}/validate?timeout=10s": dial tcp 127.0.0.1:{port}:'
        " connect: connection refused"
    )
    assert failed.value.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {cause}",
        "reason": "InternalError",
        "details": {"causes": [{"message": cause}]},
        "code": 500,
    }


async def test_an_unreachable_hook_with_policy_ignore_is_skipped() -> None:
    with refused_port() as sock:
        url = f"https://127.0.0.1:{sock.getsockname()[1]}/inject"
        hook = webhook("inject.example.com", url, "", failurePolicy="Ignore")
        webhooks = admission(
            configuration("Mutating", "injector", hook),
            configuration("Validating", "checks", {**hook, "name": "check.example.com"}),
        )
        request = pod_request()
        assert await webhooks.mutate(request) == request.object
        await webhooks.validate(request)


async def test_a_slow_hook_times_out_after_its_timeout(hooks: HookServer) -> None:
    async def stuck(review: Review) -> Response:
        await asyncio.sleep(5)
        return reply(review, allowed=True)

    hooks.answers["/validate"] = stuck
    hook = webhook("slow.example.com", f"{hooks.url}/validate", hooks.ca_bundle, timeoutSeconds=1)
    started = time.monotonic()
    with pytest.raises(ApiError) as failed:
        await admission(configuration("Validating", "slow", hook)).validate(pod_request())
    assert 0.9 < time.monotonic() - started < 3
    assert failed.value.message == (
        'Internal error occurred: failed calling webhook "slow.example.com": failed to call'
        f' webhook: Post "{hooks.url}/validate?timeout=1s": context deadline exceeded'
    )
    assert hooks.calls[0][1] == "timeout=1s"


async def test_a_hook_signed_by_another_ca_is_not_trusted(
    hooks: HookServer, tmp_path: Path
) -> None:
    stranger = ClusterCredentials.load_or_create(tmp_path / "stranger")
    bundle = base64.b64encode(stranger.ca_pem).decode()
    hook = webhook("validation.istio.io", f"{hooks.url}/validate", bundle)
    with pytest.raises(ApiError) as failed:
        await admission(configuration("Validating", "istio", hook)).validate(pod_request())
    assert failed.value.code == 500
    assert failed.value.message.endswith(
        f'Post "{hooks.url}/validate?timeout=10s": tls: failed to verify certificate:'
        " x509: certificate signed by unknown authority"
    )
    assert hooks.calls == []


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (
            raw_answer(PlainTextResponse("404 page not found", status_code=404)),
            "failed to call webhook: the server could not find the requested resource",
        ),
        (
            raw_answer(PlainTextResponse("boom", status_code=500)),
            'failed to call webhook: an error on the server ("boom") has prevented the request'
            " from succeeding",
        ),
        (
            raw_answer(
                JSONResponse(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": "someone-else", "allowed": True},
                    }
                )
            ),
            'received invalid webhook response: expected response.uid="0f3c6f4e-7d7b-4f8e-9d2a-'
            '4f1b8e8f2a11", got "someone-else"',
        ),
        (
            raw_answer(JSONResponse({"apiVersion": "admission.k8s.io/v1"})),
            "received invalid webhook response: webhook response was absent",
        ),
        (
            patch_answer({"op": "add", "path": "/metadata/labels/x", "value": "y"}),
            "received invalid webhook response: validating webhook may not return response.patch",
        ),
    ],
)
async def test_broken_answers_fail_the_call(hooks: HookServer, answer: Answer, why: str) -> None:
    hooks.answers["/validate"] = answer
    hook = webhook("check.example.com", f"{hooks.url}/validate", hooks.ca_bundle)
    with pytest.raises(ApiError) as failed:
        await admission(configuration("Validating", "checks", hook)).validate(pod_request())
    assert failed.value.message == (
        f'Internal error occurred: failed calling webhook "check.example.com": {why}'
    )


async def test_a_service_reference_is_resolved_and_verified_by_its_dns_name(
    hooks: HookServer,
) -> None:
    asked: list[tuple[str, str, int, str]] = []

    def service_url(namespace: str, name: str, port: int, path: str) -> str:
        asked.append((namespace, name, port, path))
        return f"{hooks.url}{path}"

    client_config = {
        "service": {"namespace": "istio-system", "name": "istiod", "port": 443, "path": "/inject"},
        "caBundle": hooks.ca_bundle,
    }
    hook = webhook("sidecar-injector.istio.io", "", "", clientConfig=client_config)
    hooks.answers["/inject"] = patch_answer(
        {"op": "add", "path": "/metadata/annotations", "value": {"sidecar.istio.io/status": "{}"}}
    )
    injector = admission(configuration("Mutating", "istio", hook), service_url=service_url)

    pod = await injector.mutate(pod_request())

    assert asked == [("istio-system", "istiod", 443, "/inject")]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/status": "{}"}


async def test_a_service_certificate_must_carry_the_service_name(
    hooks: HookServer,
) -> None:
    client_config = {
        "service": {"namespace": "mesh", "name": "validator", "path": "/validate"},
        "caBundle": hooks.ca_bundle,
    }
    hook = webhook("validation.istio.io", "", "", clientConfig=client_config)
    checks = admission(
        configuration("Validating", "istio", hook),
        service_url=lambda namespace, name, port, path: f"{hooks.url}{path}",
    )
    with pytest.raises(ApiError) as failed:
        await checks.validate(pod_request())
    assert failed.value.message.endswith(
        'Post "https://validator.mesh.svc:443/validate?timeout=10s": tls: failed to verify'
        " certificate: x509: certificate is not valid for validator.mesh.svc"
    )
