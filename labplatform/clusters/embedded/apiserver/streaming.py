"""``kubectl exec`` and ``attach``: the v5.channel.k8s.io websocket protocol over a node runtime.

Each binary message is one channel byte and a payload: 0 stdin, 1 stdout,
2 stderr, 3 the final Status, 4 terminal resize (``{"Width", "Height"}``),
255 close (``[255, 0]`` ends stdin). The command's exit code travels in the
Status (``NonZeroExitCode`` with an ``ExitCode`` cause), which is how
``kubectl exec`` exits with the command's own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.node import ExecProcess, NodeRuntime

log = logging.getLogger(__name__)

SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CHUNK = 32 * 1024


def exec_status(exit_code: int) -> dict[str, Any]:
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def offered_subprotocols(websocket: WebSocket) -> list[str]:
    """What the client offered, as the ASGI server parsed it (wsproto keeps no raw header)."""
    return [str(p).strip() for p in websocket.scope.get("subprotocols") or []]


async def serve_exec(
    websocket: WebSocket, pod: dict[str, Any], node: NodeRuntime | None, attach: bool = False
) -> None:
    """Run the command the query names in the pod (or attach to the container's own streams)
    and bridge it to the websocket."""
    offered = offered_subprotocols(websocket)
    protocol = next((p for p in SUBPROTOCOLS if p in offered), None)
    await websocket.accept(subprotocol=protocol)
    query = websocket.query_params
    try:
        command = query.getlist("command")
        container = _container(pod, query.get("container", ""))
        if not command and not attach:
            raise errors.bad_request("you must specify at least 1 command")
        if node is None or pod.get("status", {}).get("phase") != "Running":
            raise errors.bad_request(
                f'unable to upgrade connection: container not found ("{container}")'
            )
        tty = query.get("tty") == "true"
        want_stdin = query.get("stdin") == "true"
        if attach:
            process = await node.attach(pod, container, tty, want_stdin)
        else:
            process = await node.exec(pod, container, command, tty, want_stdin)
    except errors.ApiError as exc:
        await _finish(websocket, exc.status())
        return
    exit_code = await _bridge(websocket, process)
    # An attached client did not start the process, and kubectl takes a failure
    # here for a failed attach; exec reports the command's own exit code.
    await _finish(websocket, exec_status(0 if attach else exit_code))


def _container(pod: dict[str, Any], requested: str) -> str:
    names: list[str] = [str(c["name"]) for c in pod["spec"].get("containers", [])]
    if not requested:
        return names[0]
    if requested not in names:
        raise errors.bad_request(
            f"container {requested} is not valid for pod {pod['metadata']['name']}"
        )
    return requested


async def _bridge(websocket: WebSocket, process: ExecProcess) -> int:
    async def pump(reader: asyncio.StreamReader, channel: int) -> None:
        while chunk := await reader.read(CHUNK):
            await websocket.send_bytes(bytes([channel]) + chunk)

    async def feed() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive_bytes()
                if not message:
                    continue
                channel, payload = message[0], message[1:]
                if channel == STDIN:
                    await process.write_stdin(payload)
                elif channel == RESIZE:
                    size = json.loads(payload)
                    await process.resize(int(size["Width"]), int(size["Height"]))
                elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                    await process.close_stdin()
        await process.close_stdin()

    pumps = [asyncio.create_task(pump(process.stdout, STDOUT))]
    if process.stderr is not None:
        pumps.append(asyncio.create_task(pump(process.stderr, STDERR)))
    feeder = asyncio.create_task(feed())
    try:
        await asyncio.gather(*pumps)
        return await process.wait()
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)


async def _finish(websocket: WebSocket, status: dict[str, Any]) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        await websocket.close(1000)
