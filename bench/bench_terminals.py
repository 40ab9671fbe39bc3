"""Keystroke echo through the terminal websocket: ours beside terminado, on this machine.

Both servers run ``cat`` on a PTY (the line discipline echoes what is typed,
so nothing but the terminal layer is measured), each in its own process,
and one client types a character, waits for it to come back, and repeats.
Then the same through the whole course server into a learner's cluster
(a shell entered with nsenter), which is what a learner feels. Figures are
milliseconds from send to echo.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable

from common import free_port
from websockets.asyncio.client import ClientConnection, connect

KEYS = 2000
WARMUP = 50

OURS = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from terminals.pty import TerminalManager
    from terminals.websocket import serve_terminal

    manager = TerminalManager()

    async def endpoint(websocket):
        terminal = manager.open("bench", ["cat"])
        await websocket.accept()
        await serve_terminal(websocket, terminal)

    app = Starlette(routes=[WebSocketRoute("/terminals/bench", endpoint)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)
TERMINADO = textwrap.dedent(
    """
    import sys, tornado.ioloop, tornado.web
    from terminado import NamedTermManager, TermSocket

    manager = NamedTermManager(shell_command=["cat"])

    class Socket(TermSocket):
        def check_origin(self, origin):
            return True

    app = tornado.web.Application([(r"/terminals/(\\w+)", Socket, {"term_manager": manager})])
    app.listen(int(sys.argv[1]), "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()
    """
)


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def echo_times(
    socket_: ClientConnection, keys: int, expect_prefix: Callable[[], Awaitable[None]]
) -> list[float]:
    await expect_prefix()
    times = []
    for index in range(keys + WARMUP):
        key = "abcdefghij"[index % 10]
        began = time.perf_counter()
        await socket_.send(json.dumps(["stdin", key]))
        while True:
            frame = json.loads(await socket_.recv())
            if frame[0] == "stdout" and key in frame[1]:
                break
        if index >= WARMUP:
            times.append((time.perf_counter() - began) * 1000)
        if index % 50 == 49:  # a newline now and then keeps cat's line short
            await socket_.send(json.dumps(["stdin", "\r"]))
            await asyncio.sleep(0.01)
            while True:
                try:
                    await asyncio.wait_for(socket_.recv(), 0.05)
                except TimeoutError:
                    break
    return times


async def measure(url: str, headers: dict[str, str] | None = None, keys: int = KEYS) -> list[float]:
    async with connect(url, additional_headers=headers or {}) as socket_:

        async def settle() -> None:  # drain the setup frame and any replayed output
            while True:
                try:
                    await asyncio.wait_for(socket_.recv(), 0.5)
                except TimeoutError:
                    return

        return await echo_times(socket_, keys, settle)


def report(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"{name:<44} p50 {statistics.median(ordered):.3f} ms  p99 {p99:.3f} ms  "
        f"({len(ordered)} keys)"
    )


def server(source: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", source, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_port(port)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)


def main() -> None:
    contenders = (("ours (terminals/, uvicorn)", OURS), ("terminado 0.18 (tornado)", TERMINADO))
    for name, source in contenders:
        proc, port = server(source)
        try:
            report(name, asyncio.run(measure(f"ws://127.0.0.1:{port}/terminals/bench")))
        finally:
            stop(proc)
    if "--no-cluster" not in sys.argv:
        from sessions_server import LearnerSession

        with LearnerSession(pool_size=0) as session:
            times = asyncio.run(measure(session.terminal_url, session.ws_headers, keys=500))
            report("the course server into a learner's cluster", times)


if __name__ == "__main__":
    main()
