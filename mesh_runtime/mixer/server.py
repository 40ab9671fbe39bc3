"""mixer's doors: the access log and authorization services proxies call, and its HTTP side.

Reports arrive over gRPC (Envoy's ``AccessLogService``, 9091): a stream per
proxy whose first message names the proxy. Each record becomes a report,
counted in the metrics and the service graph. On the same port, guarded
proxies ask Envoy's ``Authorization.Check`` before a request reaches the
app, answered by the policy engine (:mod:`mesh_runtime.mixer.policy`). The HTTP side (42422) serves
``/metrics`` in Prometheus's format, ``/graph`` as JSON and ``/healthz``;
spans have their own port (9411), :mod:`mesh_runtime.mixer.traces`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mesh_runtime.identity import Proxy
from mesh_runtime.mixer.graph import ServiceGraph
from mesh_runtime.mixer.metrics import Metrics
from mesh_runtime.mixer.policy import PolicyEngine
from mesh_runtime.mixer.policy import Request as PolicyRequest
from mesh_runtime.mixer.reports import Inventory, Report, http_report, tcp_report
from mesh_runtime.mixer.traces import TraceStore

log = logging.getLogger("mesh_runtime.mixer")


class Mixer(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
    def __init__(self, inventory: Inventory, window: float = 60.0) -> None:
        self.inventory = inventory
        self.metrics = Metrics()
        self.graph = ServiceGraph(window)
        self.traces = TraceStore(inventory)
        self.policy = PolicyEngine(inventory)

    def ingest(self, report: Report) -> None:
        self.metrics.record(report)
        self.graph.record(report)

    async def StreamAccessLogs(  # noqa: N802 - the gRPC method's name
        self,
        request_iterator: AsyncIterator[als_pb2.StreamAccessLogsMessage],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> als_pb2.StreamAccessLogsResponse:
        reporter: Proxy | None = None
        async for message in request_iterator:
            if message.HasField("identifier"):
                reporter = Proxy.from_node_id(message.identifier.node.id)
            if reporter is None:
                continue  # Envoy always names itself first; nothing to attribute until then
            for entry in message.http_logs.log_entry:
                self.ingest(http_report(reporter, entry, self.inventory))
            for entry in message.tcp_logs.log_entry:
                self.ingest(tcp_report(reporter, entry, self.inventory))
        return als_pb2.StreamAccessLogsResponse()

    def http_app(self) -> Starlette:
        async def metrics(_: Request) -> Response:
            return Response(self.metrics.exposition(),
                            media_type="text/plain; version=0.0.4; charset=utf-8")  # fmt: skip

        async def graph(_: Request) -> Response:
            return JSONResponse(self.graph.snapshot())

        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        return Starlette(routes=[Route("/metrics", metrics), Route("/graph", graph),
                                 Route("/healthz", healthz)])  # fmt: skip


class Authorizer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    """Envoy's ext_authz: the policy engine's verdict on each request, as Envoy expects it."""

    def __init__(self, policy: PolicyEngine) -> None:
        self.policy = policy

    async def Check(  # noqa: N802 - the gRPC method's name
        self, request: external_auth_pb2.CheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> external_auth_pb2.CheckResponse:
        attributes = request.attributes
        verdict = self.policy.check(PolicyRequest(
            source_ip=attributes.source.address.socket_address.address,
            source_principal=attributes.source.principal,
            destination_ip=attributes.destination.address.socket_address.address,
            headers=dict(attributes.request.http.headers),
        ))  # fmt: skip
        if verdict.allowed:
            return external_auth_pb2.CheckResponse(status=status_pb2.Status(code=code_pb2.OK))
        code = code_pb2.RESOURCE_EXHAUSTED if verdict.status == 429 else code_pb2.PERMISSION_DENIED
        denied = external_auth_pb2.DeniedHttpResponse(body=verdict.message)
        denied.status.code = verdict.status
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code, message=verdict.message), denied_response=denied
        )


async def serve_grpc(mixer: Mixer, address: str) -> grpc.aio.Server:
    server = grpc.aio.server()
    als_pb2_grpc.add_AccessLogServiceServicer_to_server(mixer, server)
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(Authorizer(mixer.policy), server)
    server.add_insecure_port(address)
    await server.start()
    log.info("reports accepted", extra={"address": address})
    return server
