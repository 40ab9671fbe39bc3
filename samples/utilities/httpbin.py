"""An httpbin-compatible service (port 80) for the circuit-breaking, header and fault labs.

The endpoints labs use, with httpbin's JSON shapes: ``/get``, ``/anything``
(any method), ``/headers``, ``/ip``, ``/uuid``, ``/status/{codes}`` (one of
a comma-separated list, at random, as httpbin), ``/delay/{seconds}`` (at
most 10, as httpbin). One addition httpbin lacks: ``/ws/echo``, a websocket
that sends back every message, to show that websockets cross the mesh (and
an app tab) intact.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from samples.service import MAX_BODY, application, serve

MAX_DELAY = 10.0


async def _echo(request: Request) -> dict[str, object]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"body larger than {MAX_BODY} bytes")
    text = body.decode(errors="replace")
    try:
        parsed: object = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return {
        "args": dict(request.query_params),
        "data": text,
        "headers": {k.title(): v for k, v in request.headers.items()},
        "json": parsed,
        "method": request.method,
        "origin": request.client.host if request.client else "",
        "url": str(request.url),
    }


async def anything(request: Request) -> Response:
    return JSONResponse(await _echo(request))


async def get(request: Request) -> Response:
    echoed = await _echo(request)
    return JSONResponse({k: echoed[k] for k in ("args", "headers", "origin", "url")})


async def headers(request: Request) -> Response:
    return JSONResponse({"headers": {k.title(): v for k, v in request.headers.items()}})


async def ip(request: Request) -> Response:
    return JSONResponse({"origin": request.client.host if request.client else ""})


async def new_uuid(_: Request) -> Response:
    return JSONResponse({"uuid": str(uuid.uuid4())})


async def status(request: Request) -> Response:
    choices = request.path_params["codes"].split(",")
    if not all(code.strip().isdigit() and 100 <= int(code) <= 599 for code in choices):
        raise HTTPException(400, "status codes must be numbers from 100 to 599, comma-separated")
    return Response(status_code=int(random.choice(choices)))


async def delay(request: Request) -> Response:
    try:
        seconds = min(float(request.path_params["seconds"]), MAX_DELAY)
    except ValueError:
        raise HTTPException(400, "delay must be a number of seconds") from None
    await asyncio.sleep(max(seconds, 0.0))
    return await get(request)


async def websocket_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"])
            else:
                await websocket.send_text(message.get("text") or "")
    except WebSocketDisconnect:
        return


def create_app() -> Starlette:
    every = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    return application("httpbin", [
        Route("/anything", anything, methods=every),
        Route("/anything/{path:path}", anything, methods=every),
        Route("/get", get), Route("/headers", headers), Route("/ip", ip),
        Route("/uuid", new_uuid), Route("/status/{codes}", status, methods=every),
        Route("/delay/{seconds}", delay, methods=every),
        WebSocketRoute("/ws/echo", websocket_echo),
    ])  # fmt: skip


def main() -> None:
    serve(create_app(), "httpbin", 80)


if __name__ == "__main__":
    main()
