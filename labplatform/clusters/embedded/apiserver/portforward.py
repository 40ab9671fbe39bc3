"""Port forwarding: kubectl's SPDY streams inside a websocket, or the clients' channel protocol.

kubectl (SPDY/3.1+portforward.k8s.io):

For every connection a user opens to the forwarded local port, kubectl
opens two SPDY streams carrying the same ``requestid``: an ``error`` stream
(where the server may write why the connection failed) and a ``data``
stream (the bytes). When both are here, the node runtime connects to the
port inside the pod and the bytes are relayed both ways until either side
closes; then both streams are finished with FIN.

The official clients (v4.channel.k8s.io): the ``ports`` query names the
ports; the i-th has a data channel 2i and an error channel 2i+1, each of
which first carries the port number (two bytes, little-endian), then data
prefixed by its channel byte. One connection to each port per websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from labplatform.clusters.embedded.apiserver import spdy
from labplatform.clusters.embedded.apiserver.node import NodeRuntime
from labplatform.clusters.embedded.apiserver.streaming import offered_subprotocols

log = logging.getLogger(__name__)

SUBPROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 32 * 1024


@dataclass
class _Pair:
    port: int
    error_stream: int = 0
    data_stream: int = 0
    writer: asyncio.StreamWriter | None = None
    inbound: list[bytes] = field(default_factory=list)
    client_done: bool = False


class PortForwardSession:
    """One kubectl port-forward websocket."""

    def __init__(self, websocket: WebSocket, pod: dict[str, Any], node: NodeRuntime) -> None:
        self.websocket = websocket
        self.pod = pod
        self.node = node
        self.codec = spdy.Codec()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self.send_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()

    async def send(self, frame: bytes) -> None:
        async with self.send_lock:
            await self.websocket.send_bytes(frame)

    async def run(self) -> None:
        try:
            while True:
                message = await self.websocket.receive_bytes()
                for frame in self.codec.feed(message):
                    await self.handle(frame)
        except WebSocketDisconnect:
            pass
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for pair in self.pairs.values():
                if pair.writer is not None:
                    pair.writer.close()

    async def handle(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.SYN_STREAM:
            headers = self.codec.headers(frame)
            await self.send(self.codec.syn_reply(frame.stream_id))
            request = headers.get("requestid", str(frame.stream_id))
            pair = self.pairs.setdefault(request, _Pair(int(headers.get("port", "0") or 0)))
            if headers.get("streamtype") == "error":
                pair.error_stream = frame.stream_id
            else:
                pair.data_stream = frame.stream_id
            self.by_stream[frame.stream_id] = pair
            if pair.error_stream and pair.data_stream:
                self._start(self._connect(pair))
        elif frame.kind == 0:
            target = self.by_stream.get(frame.stream_id)
            if target is None or frame.stream_id != target.data_stream:
                return
            if target.writer is None:
                target.inbound.append(frame.payload)
            elif frame.payload:
                target.writer.write(frame.payload)
                await target.writer.drain()
            if frame.fin:
                target.client_done = True
                if target.writer is not None and target.writer.can_write_eof():
                    target.writer.write_eof()
        elif frame.kind == spdy.PING:
            await self.send(spdy.ping(frame))
        elif frame.kind == spdy.RST_STREAM:
            reset = self.by_stream.get(frame.stream_id)
            if reset is not None and reset.writer is not None:
                reset.writer.close()

    def _start(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect(self, pair: _Pair) -> None:
        try:
            reader, writer = await self.node.port_forward(self.pod, pair.port)
        except (OSError, NotImplementedError) as exc:
            name = self.pod["metadata"]["name"]
            message = f"error forwarding port {pair.port} to pod {name}: {exc}"
            await self.send(spdy.data(pair.error_stream, message.encode(), fin=True))
            await self.send(spdy.data(pair.data_stream, b"", fin=True))
            return
        pair.writer = writer
        for chunk in pair.inbound:
            writer.write(chunk)
        pair.inbound.clear()
        if pair.client_done and writer.can_write_eof():
            writer.write_eof()
        await writer.drain()
        try:
            while chunk := await reader.read(CHUNK):
                await self.send(spdy.data(pair.data_stream, chunk))
        except OSError as exc:
            log.info("port-forward connection ended", extra={"error": str(exc)})
        finally:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.send(spdy.data(pair.data_stream, b"", fin=True))
                await self.send(spdy.data(pair.error_stream, b"", fin=True))
            writer.close()


class ChannelPortForward:
    """One websocket of the channel protocol: a connection to each port the query names."""

    def __init__(self, websocket: WebSocket, pod: dict[str, Any], node: NodeRuntime) -> None:
        self.websocket = websocket
        self.pod = pod
        self.node = node
        self.writers: dict[int, asyncio.StreamWriter] = {}  # data channel -> the pod's port
        self.send_lock = asyncio.Lock()

    async def send(self, channel: int, payload: bytes) -> None:
        async with self.send_lock:
            await self.websocket.send_bytes(bytes([channel]) + payload)

    async def run(self, ports: list[int]) -> None:
        pumps = []
        for index, port in enumerate(ports):
            data, error = 2 * index, 2 * index + 1
            for channel in (data, error):
                await self.send(channel, port.to_bytes(2, "little"))
            try:
                reader, writer = await self.node.port_forward(self.pod, port)
            except (OSError, NotImplementedError) as exc:
                name = self.pod["metadata"]["name"]
                await self.send(
                    error, f"error forwarding port {port} to pod {name}: {exc}".encode()
                )
                continue
            self.writers[data] = writer
            pumps.append(asyncio.create_task(self._pump(reader, data)))
        receiving = asyncio.create_task(self._receive())
        try:
            if pumps:
                await asyncio.gather(*pumps)  # every pod side closed: the forward is over
            else:
                await receiving
        finally:
            receiving.cancel()
            for task in pumps:
                task.cancel()
            await asyncio.gather(receiving, *pumps, return_exceptions=True)
            for writer in self.writers.values():
                writer.close()
            with contextlib.suppress(RuntimeError):
                await self.websocket.close()

    async def _pump(self, reader: asyncio.StreamReader, channel: int) -> None:
        with contextlib.suppress(OSError, WebSocketDisconnect):
            while chunk := await reader.read(CHUNK):
                await self.send(channel, chunk)

    async def _receive(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await self.websocket.receive_bytes()
                writer = self.writers.get(message[0]) if message else None
                if writer is not None and len(message) > 1:
                    writer.write(message[1:])
                    await writer.drain()


CHANNEL_SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "portforward.k8s.io")


def _ports(websocket: WebSocket) -> list[int]:
    values = [v for item in websocket.query_params.getlist("ports") for v in item.split(",")]
    return [int(v) for v in values if v.strip().isdigit() and 0 < int(v) < 65536]


async def serve_port_forward(
    websocket: WebSocket, pod: dict[str, Any], node: NodeRuntime | None
) -> None:
    offered = offered_subprotocols(websocket)
    channels = next((p for p in CHANNEL_SUBPROTOCOLS if p in offered), None)
    if SUBPROTOCOL not in offered and channels is None:
        await websocket.close(1002, f"port-forward needs the {SUBPROTOCOL} subprotocol")
        return
    if node is None or pod.get("status", {}).get("phase") != "Running":
        await websocket.close(1011, f"pod {pod['metadata']['name']} is not running")
        return
    if SUBPROTOCOL in offered:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        await PortForwardSession(websocket, pod, node).run()
        return
    ports = _ports(websocket)
    if not ports:
        await websocket.close(1008, "port-forward needs ports=PORT[,PORT] in the query")
        return
    await websocket.accept(subprotocol=channels)
    await ChannelPortForward(websocket, pod, node).run(ports)
