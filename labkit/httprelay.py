"""Relaying one HTTP request to an upstream and streaming its answer back.

The embedded API server's service proxy and the course server's app tabs
both forward a browser's request this way: the body streams in both
directions (an upload or a long download is never held in memory) and the
headers that belong to one hop stay behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

# Headers that belong to one hop (RFC 9110 7.6.1), and the caller's credentials for us.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "host", "authorization", "content-length",
    }
)  # fmt: skip


async def relay(
    request: Request,
    client: httpx.AsyncClient,
    url: str,
    dropped: frozenset[str] = HOP_BY_HOP,
    location: Callable[[str], str] = lambda value: value,
) -> Response:
    """Send ``request`` on to ``url``; raises :class:`httpx.HTTPError` if it cannot be sent.

    ``dropped`` names the headers kept back both ways; ``location`` may
    rewrite a redirect's target for the caller's own URL space.
    """
    headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
    upstream = client.build_request(
        request.method, url, params=request.query_params, headers=headers, content=request.stream()
    )
    reply = await client.send(upstream, stream=True)
    kept: dict[str, Any] = {k: v for k, v in reply.headers.items() if k.lower() not in dropped}
    if "location" in reply.headers:
        kept["location"] = location(reply.headers["location"])
    return StreamingResponse(
        reply.aiter_raw(),
        status_code=reply.status_code,
        headers=kept,
        background=BackgroundTask(reply.aclose),
    )
