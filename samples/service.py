"""What every sample service shares: JSON bodies read safely, errors as JSON, health, serving.

A learner breaks these services on purpose (faults, bad requests from curl),
so each failure answers with a status and a JSON ``{"error": ...}`` that
says what was wrong, never a stack trace, and every request is one
structured log line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from labkit.logs import configure_logging

MAX_BODY = 16 * 1024
# What a service must pass on for the mesh to stitch a trace together, and the
# headers labs route on (end-user) or authenticate with.
PROPAGATED = (
    "x-request-id", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled",
    "x-b3-flags", "b3", "traceparent", "tracestate", "x-ot-span-context",
    "x-cloud-trace-context", "grpc-trace-bin", "end-user", "user-agent", "cookie",
    "authorization",
)  # fmt: skip

log = logging.getLogger("samples")


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 4xx naming what is wrong with it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"body larger than {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"body larger than {MAX_BODY} bytes")
    try:
        found = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HTTPException(400, f"body is not JSON: {error}") from None
    if not isinstance(found, dict):
        raise HTTPException(400, "body must be a JSON object")
    return found


def text_field(body: dict[str, Any], name: str, limit: int = 2000) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise HTTPException(400, f'"{name}" is required: a non-empty string')
    if len(value) > limit:
        raise HTTPException(400, f'"{name}" is longer than {limit} characters')
    return value


def propagated(request: Request) -> dict[str, str]:
    return {name: request.headers[name] for name in PROPAGATED if name in request.headers}


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSONResponse({"error": error.detail}, status_code=error.status_code)


def application(
    name: str, routes: Sequence[BaseRoute], on_close: Callable[[], Awaitable[None]] | None = None
) -> Starlette:
    """A service with ``/healthz`` and ``/readyz`` and JSON errors; ``on_close`` at shutdown."""

    async def healthy(_: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if on_close is not None:
            await on_close()

    app = Starlette(
        routes=[Route("/healthz", healthy), Route("/readyz", healthy), *routes],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.name = name
    return app


def serve(app: Starlette, description: str, port: int, argv: Sequence[str] | None = None) -> None:
    """Run ``app`` on 0.0.0.0 (``--port`` to change), one structured log line per request."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)
    configure_logging("json", "INFO")
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=True)
