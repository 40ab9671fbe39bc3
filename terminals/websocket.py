"""The terminal websocket protocol: terminado's JSON frames, plus keepalive.

Every message is a JSON array whose first item names it.

Client to server:
  ``["stdin", text]``            keystrokes or a paste
  ``["set_size", rows, cols]``   the viewer's terminal size (extra items ignored)
  ``["ping"]``                   keepalive; answered with ``["pong"]``

Server to client:
  ``["setup", {"name": ..., "replay": bool}]``  first frame: which terminal this is,
                                 and whether the next frame replays the recent screen
  ``["stdout", text]``           output (the replay, if announced, in a frame of its own)
  ``["error", message]``         a frame was refused; the connection stays open
  ``["disconnect", code]``       the process exited with ``code``; the server closes

The connection itself proves nothing about who may use a terminal: the
caller authorises the websocket before handing it to :func:`serve_terminal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from terminals.pty import Terminal, Viewer


async def serve_terminal(
    websocket: WebSocket, terminal: Terminal, on_input: Callable[[], None] = lambda: None
) -> None:
    """Attach an accepted websocket to ``terminal`` until either side goes away.

    ``on_input`` is called for every keystroke frame: the session's idle timer hangs on it.
    """
    viewer = terminal.attach()
    # The replay gets its own frame, so a client can tell old output (old prompts among
    # it) from what the shell says after this connection opened.
    await websocket.send_json(["setup", {"name": terminal.name, "replay": bool(viewer.replay)}])
    if viewer.replay:
        await websocket.send_json(["stdout", viewer.replay])
    sender = asyncio.create_task(_send_output(websocket, terminal, viewer))
    try:
        while True:
            try:
                frame = json.loads(await websocket.receive_text())
            except (ValueError, KeyError):
                await websocket.send_json(["error", "frames must be JSON arrays"])
                continue
            error = _handle(frame, terminal, viewer)
            if isinstance(frame, list) and frame[:1] == ["stdin"]:
                on_input()
            if error == "pong":
                await websocket.send_json(["pong"])
            elif error:
                await websocket.send_json(["error", error])
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        terminal.detach(viewer)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


def _handle(frame: Any, terminal: Terminal, viewer: Viewer) -> str:
    """Apply one client frame; returns an error message, "pong", or ""."""
    if not isinstance(frame, list) or not frame or not isinstance(frame[0], str):
        return f"not a frame: {json.dumps(frame)[:80]}"
    kind = frame[0]
    if kind == "stdin" and len(frame) >= 2 and isinstance(frame[1], str):
        try:
            terminal.write(frame[1])
        except OverflowError as exc:
            return str(exc)
        return ""
    if kind == "set_size" and len(frame) >= 3 and all(isinstance(v, int) for v in frame[1:3]):
        rows, cols = frame[1], frame[2]
        if not (0 < rows <= 1000 and 0 < cols <= 1000):
            return f"set_size: rows and cols must be 1-1000, got {rows}x{cols}"
        terminal.resize(viewer, rows, cols)
        return ""
    if kind == "ping":
        return "pong"
    return f"unknown or malformed frame {kind!r}: expected stdin, set_size or ping"


async def _send_output(websocket: WebSocket, terminal: Terminal, viewer: Viewer) -> None:
    while True:
        first = await viewer.queue.get()
        ended = first is None
        chunks = [] if first is None else [first]
        # Coalesce what has piled up, so a slow viewer gets fewer, larger frames.
        while not ended and not viewer.queue.empty():
            more = viewer.queue.get_nowait()
            if more is None:
                ended = True
            else:
                chunks.append(more)
        if chunks:
            await websocket.send_json(["stdout", "".join(chunks)])
            terminal.drained()
        if ended:
            await websocket.send_json(["disconnect", terminal.exit_code or 0])
            await websocket.close(1000)
            return
