"""Relaying a websocket to another websocket server, message for message.

Both proxies that carry a learner's app to the browser use it: the course
server's app tabs (browser -> course server -> Kubernetes API) and the
embedded API server's service proxy (API server -> the app in its pod), so
an app that talks over websockets works in a tab as it does directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping

import websockets
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect

OPEN_TIMEOUT = 10.0


async def relay(
    websocket: WebSocket,
    url: str,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Connect to ``url`` and relay until either side closes; ``websocket`` not yet accepted.

    The browser's subprotocols are offered upstream and the one chosen there
    is accepted here. When the upstream refuses, the browser's handshake is
    refused with a close frame whose reason says why.
    """
    offered = [websockets.Subprotocol(p) for p in websocket.scope.get("subprotocols") or []]
    try:
        upstream = await connect(
            url,
            additional_headers=dict(headers or {}),
            ssl=ssl_context,
            subprotocols=offered or None,
            open_timeout=OPEN_TIMEOUT,
            max_size=None,
            compression=None,
        )
    except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
        await websocket.close(1011, f"upstream refused the websocket: {exc}"[:120])
        return
    async with upstream:
        await websocket.accept(subprotocol=upstream.subprotocol)
        tasks = [
            asyncio.create_task(_downstream(websocket, upstream)),
            asyncio.create_task(_upstream(websocket, upstream)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        code = upstream.close_code or 1000
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code if 1000 <= code < 5000 and code != 1006 else 1011)


async def _downstream(websocket: WebSocket, upstream: ClientConnection) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in upstream:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)


async def _upstream(websocket: WebSocket, upstream: ClientConnection) -> None:
    with contextlib.suppress(websockets.ConnectionClosed, WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await upstream.send(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send(message["text"])
