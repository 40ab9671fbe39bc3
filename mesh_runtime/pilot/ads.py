"""The Aggregated Discovery Service: pilot's side of the xDS conversation with each Envoy.

State of the world over one gRPC stream per proxy (v3). Per type the
stream remembers the last nonce and version sent, what the proxy asked for
and what it last accepted, following go-control-plane's rules:

- a request whose nonce is the last one sent and that carries no error is
  an ACK (nothing is sent back); with an error it is a NACK: the proxy
  keeps its old config, and the error is kept for ``meshctl proxy-status``;
- a request carrying an older nonce is stale and ignored, unless it
  changes the names asked for;
- after clusters are pushed, Envoy asks for endpoints again with the old
  nonce, which looks like an ACK; unanswered, the new clusters would stay
  warming until a 15 s timeout, so endpoints are always answered after a
  cluster push (and routes after a listener push).

A change to the model reaches every stream as a new snapshot; each type
whose version differs is pushed, clusters first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from mesh_runtime.identity import Proxy
from mesh_runtime.pilot.resources import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    PUSH_ORDER,
    ROUTE,
    SECRET,
    SHORT_NAMES,
    Snapshot,
)

log = logging.getLogger(__name__)

# answered again after their parent's push
DEPENDENT = {ENDPOINT: CLUSTER, ROUTE: LISTENER, SECRET: LISTENER}


@dataclass
class TypeState:
    nonce: str = ""
    version_sent: str = ""
    version_acked: str = ""
    names: set[str] = field(default_factory=set)
    subscribed: bool = False
    parent_pushed: bool = False
    error: str = ""


@dataclass
class Stream:
    """One connected proxy."""

    proxy: Proxy
    types: dict[str, TypeState] = field(
        default_factory=lambda: {t: TypeState() for t in PUSH_ORDER}
    )
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def status(self) -> dict[str, Any]:
        """What ``meshctl proxy-status`` shows for this proxy, per type."""
        shown = {}
        for type_url, state in self.types.items():
            if not state.subscribed:
                continue
            if state.error:
                shown[SHORT_NAMES[type_url]] = f"NACK ({state.error})"
            elif state.version_acked == state.version_sent:
                shown[SHORT_NAMES[type_url]] = "SYNCED"
            else:
                shown[SHORT_NAMES[type_url]] = "STALE"
        return {"proxy": self.proxy.id, **shown}


class AdsServer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    """Serves each proxy the snapshot ``snapshot_for`` builds for it."""

    def __init__(self, snapshot_for: Callable[[Proxy], Snapshot]) -> None:
        self.snapshot_for = snapshot_for
        self.streams: dict[str, Stream] = {}

    def push(self) -> None:
        """The model changed: every stream rebuilds its snapshot and sends what differs."""
        for stream in self.streams.values():
            stream.wake.set()

    async def StreamAggregatedResources(  # noqa: N802 - the gRPC method's name
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        requests: asyncio.Queue[discovery_pb2.DiscoveryRequest | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await requests.put(request)
            finally:
                await requests.put(None)

        reader = asyncio.create_task(read())
        stream: Stream | None = None
        try:
            while True:
                waiting = [asyncio.ensure_future(requests.get())]
                if stream is not None:
                    waiting.append(asyncio.ensure_future(stream.wake.wait()))
                try:
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:  # also when the stream is cancelled while waiting
                    for future in waiting:
                        if not future.done():
                            future.cancel()
                if waiting[0] in done:
                    request = waiting[0].result()
                    if request is None:
                        return
                    if stream is None:
                        stream = Stream(Proxy.from_node_id(request.node.id))
                        self.streams[stream.proxy.id] = stream
                        log.info("proxy connected", extra={"proxy": stream.proxy.id})
                    for response in self._on_request(stream, request):
                        yield response
                elif stream is not None:
                    stream.wake.clear()
                    for response in self._on_push(stream):
                        yield response
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            if stream is not None and self.streams.get(stream.proxy.id) is stream:
                del self.streams[stream.proxy.id]
                log.info("proxy disconnected", extra={"proxy": stream.proxy.id})

    def _on_request(
        self, stream: Stream, request: discovery_pb2.DiscoveryRequest
    ) -> list[discovery_pb2.DiscoveryResponse]:
        type_url = request.type_url
        state = stream.types.get(type_url)
        if state is None:
            return []  # a type pilot does not serve (yet): Envoy's initial fetch times out
        names = set(request.resource_names)
        state.subscribed = True
        if request.response_nonce and request.response_nonce != state.nonce:
            if names == state.names:
                return []  # stale: an answer to a response that has been superseded
        elif request.response_nonce:
            if request.HasField("error_detail"):
                state.error = request.error_detail.message
                log.warning(
                    "proxy rejected config",
                    extra={"proxy": stream.proxy.id, "type": SHORT_NAMES[type_url],
                           "error": state.error},
                )  # fmt: skip
                return []
            state.version_acked, state.error = request.version_info, ""
            if names == state.names and not state.parent_pushed:
                return []  # ACK
        state.names = names
        return [self._respond(stream, type_url, self.snapshot_for(stream.proxy))]

    def _on_push(self, stream: Stream) -> list[discovery_pb2.DiscoveryResponse]:
        snapshot = self.snapshot_for(stream.proxy)
        responses = []
        for type_url in PUSH_ORDER:
            state = stream.types[type_url]
            if not state.subscribed or type_url not in snapshot:
                continue
            if snapshot[type_url].version(state.names) != state.version_sent:
                responses.append(self._respond(stream, type_url, snapshot))
        return responses

    def _respond(
        self, stream: Stream, type_url: str, snapshot: Snapshot
    ) -> discovery_pb2.DiscoveryResponse:
        state = stream.types[type_url]
        resources = snapshot[type_url]
        state.version_sent = resources.version(state.names)
        state.nonce = uuid.uuid4().hex
        state.parent_pushed = False
        for child, parent in DEPENDENT.items():
            if parent == type_url:
                stream.types[child].parent_pushed = True
        return discovery_pb2.DiscoveryResponse(
            version_info=state.version_sent,
            resources=resources.select(state.names),
            type_url=type_url,
            nonce=state.nonce,
        )


async def serve(server: AdsServer, address: str) -> grpc.aio.Server:
    """Start serving ADS on ``address`` (``unix:PATH`` or ``HOST:PORT``)."""
    grpc_server = grpc.aio.server()
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(server, grpc_server)
    grpc_server.add_insecure_port(address)
    await grpc_server.start()
    log.info("ADS serving", extra={"address": address})
    return grpc_server
