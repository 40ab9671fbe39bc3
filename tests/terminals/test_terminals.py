"""Named terminals over websockets: a real bash on a real PTY, several viewers."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocket
from websockets.sync.client import connect as ws_connect

from terminals.pty import QUEUE_HIGH, TerminalManager
from terminals.websocket import serve_terminal
from tests.helpers import free_port

BASH = ["bash", "--norc", "--noprofile", "-i"]


def make_app(manager: TerminalManager) -> Starlette:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        name = websocket.path_params["name"]
        env = {"PATH": os.environ["PATH"], "PS1": "$ ", "HOME": "/tmp"}
        await serve_terminal(websocket, manager.open(name, BASH, env=env))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await manager.close_all()

    return Starlette(routes=[WebSocketRoute("/t/{name}", endpoint)], lifespan=lifespan)


@pytest.fixture
def client() -> Iterator[TestClient]:
    manager = TerminalManager()
    with TestClient(make_app(manager)) as test_client:
        test_client.manager = manager  # type: ignore[attr-defined]
        yield test_client


def read_until(ws: WebSocketTestSession, done: Callable[[str], bool], limit: int = 500) -> str:
    """Output frames until ``done(all output so far)``; fails rather than hang."""
    seen = ""
    for _ in range(limit):
        frame = ws.receive_json()
        if frame[0] == "stdout":
            seen += frame[1]
            if done(seen):
                return seen
        elif frame[0] == "disconnect":
            raise AssertionError(f"terminal exited; output so far: {seen!r}")
    raise AssertionError(f"gave up after {limit} frames; output so far: {seen!r}")


def run(ws: WebSocketTestSession, command: str, expect: str) -> str:
    ws.send_json(["stdin", command + "\r"])
    return read_until(ws, lambda out: expect in out)


def test_commands_run_and_their_output_arrives(client: TestClient) -> None:
    with client.websocket_connect("/t/one") as ws:
        assert ws.receive_json() == ["setup", {"name": "one", "replay": False}]
        run(ws, "echo $((6 * 7))", "42")


def test_the_shell_survives_a_disconnect_and_replays_its_screen(client: TestClient) -> None:
    with client.websocket_connect("/t/keep") as ws:
        ws.receive_json()
        run(ws, "export LAB_SECRET=kept; echo marker-before", "marker-before\r\n")
    with client.websocket_connect("/t/keep") as ws:
        assert ws.receive_json() == ["setup", {"name": "keep", "replay": True}]
        replay = ws.receive_json()
        assert replay[0] == "stdout" and "marker-before" in replay[1]  # the old screen comes back
        run(ws, "echo value=$LAB_SECRET", "value=kept")


def test_two_viewers_share_one_terminal_sized_to_the_smaller(client: TestClient) -> None:
    with (
        client.websocket_connect("/t/shared") as first,
        client.websocket_connect("/t/shared") as second,
    ):
        first.receive_json()
        second.receive_json()
        first.send_json(["set_size", 40, 120])
        second.send_json(["set_size", 30, 100])
        first.send_json(["ping"])
        assert read_frames_until(first, ["pong"])
        run(first, "stty size", "30 100")
        read_until(second, lambda out: "30 100" in out)  # the other viewer saw it too


def read_frames_until(ws: WebSocketTestSession, wanted: list, limit: int = 200) -> bool:
    return any(ws.receive_json() == wanted for _ in range(limit))


def test_bad_frames_are_answered_not_fatal(client: TestClient) -> None:
    with client.websocket_connect("/t/bad") as ws:
        ws.receive_json()
        ws.send_text("not json")
        assert read_frames_until(ws, ["error", "frames must be JSON arrays"])
        ws.send_json(["set_size", 0, 99999])
        assert read_frames_until(
            ws, ["error", "set_size: rows and cols must be 1-1000, got 0x99999"]
        )
        ws.send_json(["launch", "missiles"])
        frame = None
        for _ in range(200):
            frame = ws.receive_json()
            if frame[0] == "error":
                break
        assert frame is not None and "unknown or malformed frame 'launch'" in frame[1]
        run(ws, "echo still-here", "still-here\r\n")


def test_exit_is_reported_and_the_process_is_gone(client: TestClient) -> None:
    with client.websocket_connect("/t/bye") as ws:
        ws.receive_json()
        ws.send_json(["stdin", "exit 7\r"])
        for _ in range(200):
            frame = ws.receive_json()
            if frame[0] == "disconnect":
                assert frame == ["disconnect", 7]
                break
        else:
            raise AssertionError("no disconnect frame")
    assert client.manager.names() == []  # type: ignore[attr-defined]


@contextlib.contextmanager
def real_server(manager: TerminalManager) -> Iterator[int]:
    """The terminal app on uvicorn, on a loopback port of its own."""
    port = free_port()
    config = uvicorn.Config(make_app(manager), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_viewer_that_stops_reading_pauses_the_pty() -> None:
    """A flood (`yes`) to a viewer that reads nothing must not pile up in the server."""
    manager = TerminalManager()
    with real_server(manager) as port, socket.create_connection(("127.0.0.1", port)) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall(
            f"GET /t/flood HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade"
            f"\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += raw.recv(1)  # the handshake only; nothing after it is read
        assert response.startswith(b"HTTP/1.1 101")
        payload = json.dumps(["stdin", "yes\r"]).encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # then never read
        time.sleep(1.5)
        terminal = manager.get("flood")
        assert terminal is not None
        backlog = max(viewer.queue.qsize() for viewer in terminal.viewers)
        assert backlog <= QUEUE_HIGH  # bounded, rather than growing with every read


def test_a_flood_stays_interruptible() -> None:
    """Over a real socket: after a second of `yes`, Ctrl-C still gets through."""
    manager = TerminalManager()
    with (
        real_server(manager) as port,
        ws_connect(f"ws://127.0.0.1:{port}/t/f", max_size=None) as ws,
    ):
        ws.recv(timeout=5)
        ws.send(json.dumps(["stdin", "yes\r"]))
        time.sleep(1.0)
        ws.send(json.dumps(["stdin", "\x03"]))  # Ctrl-C
        ws.send(json.dumps(["stdin", "echo flood-over\r"]))
        seen = ""
        while "flood-over\r\n" not in seen:
            frame = json.loads(ws.recv(timeout=10))
            if frame[0] == "stdout":
                seen = (seen + frame[1])[-8000:]


def test_closing_the_server_stops_every_process() -> None:
    manager = TerminalManager()
    with TestClient(make_app(manager)) as test_client, test_client.websocket_connect("/t/x") as ws:
        ws.receive_json()
        ws.send_json(["stdin", "echo pid=$$\r"])
        output = read_until(ws, lambda out: re.search(r"pid=\d+", out) is not None)
        pid = int(re.search(r"pid=(\d+)", output).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and subprocess.run(["kill", "-0", str(pid)]).returncode == 0:
        time.sleep(0.05)
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
