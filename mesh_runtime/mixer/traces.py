"""Traces: the spans proxies send, kept in a bounded store and served as Zipkin's v2 API.

Envoy reports spans in Zipkin's JSON (``POST /api/v2/spans``); each names
the proxy by its node's cluster, so mixer names it again by the workload at
the span's address, which is what a learner recognises. The newest
``capacity`` traces are kept; ``GET /api/v2/traces``, ``/api/v2/trace/{id}``
and ``/api/v2/services`` answer as Zipkin does, so a Zipkin or Jaeger UI
could read them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesh_runtime.mixer.reports import Inventory

Obj = dict[str, Any]


class TraceStore:
    def __init__(self, inventory: Inventory, capacity: int = 1000) -> None:
        self.inventory, self.capacity = inventory, capacity
        self._traces: OrderedDict[str, list[Obj]] = OrderedDict()
        self._lock = threading.Lock()
        self.spans_received = 0

    def add(self, spans: list[Obj]) -> None:
        with self._lock:
            for span in spans:
                endpoint = span.setdefault("localEndpoint", {})
                workload = self.inventory.at(str(endpoint.get("ipv4", "")))
                if workload.name != "unknown":
                    endpoint["serviceName"] = workload.name
                trace = self._traces.setdefault(str(span.get("traceId", "")), [])
                trace.append(span)
                self._traces.move_to_end(str(span.get("traceId", "")))
                self.spans_received += 1
            while len(self._traces) > self.capacity:
                self._traces.popitem(last=False)

    def traces(self, service: str = "", limit: int = 10) -> list[list[Obj]]:
        with self._lock:
            found = [
                list(spans) for spans in reversed(self._traces.values())
                if not service or any(_service(s) == service for s in spans)
            ]  # fmt: skip
        return found[:limit]

    def trace(self, trace_id: str) -> list[Obj] | None:
        with self._lock:
            spans = self._traces.get(trace_id.lower())
            return list(spans) if spans is not None else None

    def services(self) -> list[str]:
        with self._lock:
            return sorted({_service(s) for spans in self._traces.values() for s in spans})

    def app(self) -> Starlette:
        async def post_spans(request: Request) -> Response:
            try:
                spans = await request.json()
                if not isinstance(spans, list) or not all(isinstance(s, dict) for s in spans):
                    raise ValueError("expected a JSON list of spans")
            except ValueError as error:
                return JSONResponse({"error": f"not Zipkin v2 JSON: {error}"}, status_code=400)
            self.add(spans)
            return Response(status_code=202)

        async def get_traces(request: Request) -> Response:
            limit = request.query_params.get("limit", "10")
            if not limit.isdigit():
                return JSONResponse({"error": "limit must be a whole number"}, status_code=400)
            service = request.query_params.get("serviceName", "")
            return JSONResponse(self.traces(service, int(limit)))

        async def get_trace(request: Request) -> Response:
            spans = self.trace(request.path_params["trace_id"])
            if spans is None:
                return JSONResponse({"error": "no such trace"}, status_code=404)
            return JSONResponse(spans)

        async def get_services(_: Request) -> Response:
            return JSONResponse(self.services())

        return Starlette(routes=[
            Route("/api/v2/spans", post_spans, methods=["POST"]),
            Route("/api/v2/traces", get_traces),
            Route("/api/v2/trace/{trace_id}", get_trace),
            Route("/api/v2/services", get_services),
        ])  # fmt: skip


def _service(span: Obj) -> str:
    return str((span.get("localEndpoint") or {}).get("serviceName", ""))
