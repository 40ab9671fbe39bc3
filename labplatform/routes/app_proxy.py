"""App tabs: the learner's app, reached through their cluster's Kubernetes API.

``/sessions/{id}/app/{port}/{path}`` goes to port ``port`` of the ingress
gateway (``istio-system/istio-ingressgateway``) through the API's service
proxy, for plain HTTP and for websockets alike. Going through the API, as
``kubectl proxy`` would, needs no route into the cluster's network and works
the same on every backend. Only the session's own learner gets through:
the caller checks that before these functions run.

The app sees itself served at ``/``; absolute redirects it sends are moved
under the tab's prefix so they stay inside the tab.
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.websockets import WebSocket

from labkit.httprelay import HOP_BY_HOP, relay
from labkit.wsrelay import relay as relay_websocket
from labplatform.clusters.backend import ApiAccess

GATEWAY = ("istio-system", "istio-ingressgateway")
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# The learner's cookie and where their page came from are not the app's business.
DROPPED = HOP_BY_HOP | {"cookie", "origin", "referer"}


def upstream_path(port: int, path: str) -> str:
    namespace, service = GATEWAY
    return f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path}"


class AppProxy:
    """HTTP clients per cluster, kept while the server runs (each holds its TLS context)."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, cluster: str, api: ApiAccess) -> httpx.AsyncClient:
        client = self._clients.get(cluster)
        if client is None:
            client = httpx.AsyncClient(
                base_url=api.server, verify=api.ssl_context(), headers=api.headers, timeout=TIMEOUT
            )
            self._clients[cluster] = client
        return client

    async def forget(self, cluster: str) -> None:
        client = self._clients.pop(cluster, None)
        if client is not None:
            await client.aclose()

    async def close(self) -> None:
        for cluster in list(self._clients):
            await self.forget(cluster)

    async def http(
        self, request: Request, cluster: str, api: ApiAccess, prefix: str, port: int, path: str
    ) -> Response:
        def under_prefix(location: str) -> str:
            absolute_path = location.startswith("/") and not location.startswith("//")
            return prefix + location if absolute_path else location

        try:
            return await relay(
                request,
                self._client(cluster, api),
                upstream_path(port, path),
                DROPPED,
                under_prefix,
            )
        except httpx.HTTPError as exc:
            return PlainTextResponse(
                f"The app did not answer: {exc}. Is it deployed, and is the gateway routing "
                f"port {port}?",
                status_code=502,
            )

    async def websocket(self, websocket: WebSocket, api: ApiAccess, port: int, path: str) -> None:
        query = websocket.url.query
        url = "wss" + api.server.removeprefix("https") + upstream_path(port, path)
        target = url + (f"?{query}" if query else "")
        await relay_websocket(websocket, target, api.headers, api.ssl_context())
