"""A course server with a learner in a live session, for the session benchmarks.

Not a benchmark itself: ``bench_sessions.py`` and ``bench_terminals.py`` use
it. The server runs through its CLI as a host runs it; every cluster it made
is deleted on exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
from common import free_port
from websockets.asyncio.client import connect

from labplatform.courses.scaffold import new_course

BIN = Path(sys.executable).parent
COURSE, LAB = "bench", "first-lab"


class CourseServer:
    def __init__(self, pool_size: int, max_sessions: int = 8) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-sessions-")
        self.root = Path(self.tmp.name)
        new_course(self.root / "courses", COURSE)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LABPLATFORM_")},
            "LABPLATFORM_DATA_DIR": str(self.root / "data"),
            "LABPLATFORM_COURSES_DIR": str(self.root / "courses"),
            "LABPLATFORM_POOL_SIZE": str(pool_size),
            "LABPLATFORM_MAX_SESSIONS": str(max_sessions),
        }
        self.proc = subprocess.Popen(
            [str(BIN / "labplatform"), "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)

    def wait_pool(self, ready: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        pattern = re.compile(r'labplatform_pool_clusters\{state="ready"\} (\d+)')
        while time.monotonic() < deadline:
            match = pattern.search(httpx.get(f"{self.url}/metrics").text)
            if match and int(match.group(1)) >= ready:
                return
            time.sleep(0.5)
        raise TimeoutError("the pool did not warm up")

    def learner(self, name: str) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers={"Origin": self.url}, timeout=60)
        client.post("/join", data={"name": name})
        return client

    def click_to_prompt(self, client: httpx.Client) -> tuple[str, float]:
        """Start the lab and open its terminal: seconds from the click to the shell's prompt."""
        page = client.get(f"/courses/{COURSE}/{LAB}/intro").text
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert csrf
        began = time.perf_counter()
        reply = client.post(f"/courses/{COURSE}/{LAB}/start", data={"csrf": csrf.group(1)})
        session = reply.headers["location"].rsplit("/", 1)[1]
        while (state := client.get(f"/api/sessions/{session}").json()["state"]) == "starting":
            time.sleep(0.05)
        if state != "ready":
            raise RuntimeError(f"session {session} is {state}")
        asyncio.run(self._prompt(client, session))
        return session, time.perf_counter() - began

    async def _prompt(self, client: httpx.Client, session: str) -> None:
        async with connect(
            self.terminal_url(session), additional_headers=self.ws_headers(client)
        ) as socket_:
            seen = ""
            while not re.search(r"\$ $", seen):
                frame = json.loads(await asyncio.wait_for(socket_.recv(), 60))
                if frame[0] == "stdout":
                    seen += frame[1]

    def terminal_url(self, session: str) -> str:
        return f"ws://127.0.0.1:{self.port}/sessions/{session}/terminals/1"

    def ws_headers(self, client: httpx.Client) -> dict[str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        return {"Cookie": cookie, "Origin": self.url}

    def clusters(self) -> list[str]:
        listed = subprocess.run(
            [str(BIN / "labplatform"), "cluster", "list"],
            env=self.env, capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        return [line.split()[0] for line in listed.splitlines()[1:] if line.strip()]

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        for name in self.clusters():
            subprocess.run(
                [str(BIN / "labplatform"), "cluster", "delete", name],
                env=self.env, capture_output=True, check=False,
            )  # fmt: skip
        self.tmp.cleanup()


class LearnerSession:
    """A server and one learner with a ready session: ``terminal_url``, ``ws_headers``."""

    def __init__(self, pool_size: int = 0) -> None:
        self.server = CourseServer(pool_size)

    def __enter__(self) -> LearnerSession:
        client = self.server.learner("bench")
        session, _ = self.server.click_to_prompt(client)
        self.terminal_url = self.server.terminal_url(session)
        self.ws_headers = self.server.ws_headers(client)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.close()
