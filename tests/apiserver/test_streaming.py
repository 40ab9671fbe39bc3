"""`kubectl exec` and `kubectl logs` through the API server's streaming protocols.

These test the API server's half alone: a stand-in runtime runs the command
as a plain host process, so what is tested is the v5.channel.k8s.io exec
protocol, exit codes, stdin, chunked logs and SPDY port-forwarding, with the
real kubectl on the other end. ``tests/node`` runs the same commands against
the real node.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.node import LogOptions
from tests.apiserver.conftest import KUBECTL, kubectl_env, serve_in_thread
from tests.helpers import free_port

ECHO_PORTS: dict[int, int] = {}  # the pod port kubectl asks for -> a loopback echo server


class HostProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    async def write_stdin(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def resize(self, columns: int, rows: int) -> None:
        pass

    async def wait(self) -> int:
        return await self.proc.wait()


class StandInRuntime:
    """Stands in for the node runtime: runs exec commands on the host, serves a fixed log."""

    async def exec(
        self, pod: dict[str, Any], container: str, command: list[str], tty: bool, stdin: bool
    ) -> HostProcess:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return HostProcess(proc)

    async def logs(self, pod: dict[str, Any], options: LogOptions) -> AsyncIterator[bytes]:
        lines = [f"{pod['metadata']['name']}/{options.container} line {i}\n" for i in range(5)]
        if options.tail_lines is not None:
            lines = lines[-options.tail_lines :]
        for line in lines:
            yield line.encode()

    async def port_forward(
        self, pod: dict[str, Any], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The pod's "port" is a loopback echo server the test started."""
        return await asyncio.open_connection("127.0.0.1", ECHO_PORTS[port])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """An in-process API server with the stand-in runtime and one Running pod."""

    async def pod(api: Api) -> None:
        await api.create(
            api.registry.by_key("/serviceaccounts"), "default", {"metadata": {"name": "default"}}
        )
        created = await api.create(
            api.registry.by_key("/pods"),
            "default",
            {
                "metadata": {"name": "shell"},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            },
        )
        created["status"] = {"phase": "Running"}
        await api.update(api.registry.by_key("/pods"), "default", "shell", created, "status")

    with serve_in_thread(tmp_path, node=StandInRuntime(), setup=pod) as kubeconfig:
        yield kubeconfig


def kubectl(
    kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = kubectl_env(kubeconfig, kubeconfig.parent)
    return subprocess.run(
        [KUBECTL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_exec_streams_output_and_exit_code(served: Path) -> None:
    ok = kubectl(served, "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "out\n" and "err" in ok.stderr
    failed = kubectl(served, "exec", "shell", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3
    assert "command terminated with exit code 3" in failed.stderr


def test_exec_feeds_stdin(served: Path) -> None:
    result = kubectl(served, "exec", "-i", "shell", "--", "tr", "a-z", "A-Z", stdin="hello lab\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "HELLO LAB\n"


def test_logs_come_from_the_runtime(served: Path) -> None:
    result = kubectl(served, "logs", "shell", "--tail=2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["shell/main line 3", "shell/main line 4"]
    wrong = kubectl(served, "logs", "shell", "-c", "nope")
    assert wrong.returncode == 1 and "container nope is not valid for pod shell" in wrong.stderr


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP echo server on loopback, standing for an app listening on port 80 in the pod."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ECHO_PORTS[80] = listener.getsockname()[1]
    try:
        yield 80
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_port_forward_relays_bytes_exactly(served: Path, echo_server: int) -> None:
    import socket
    import time

    local = free_port()
    env = kubectl_env(served, served.parent)
    forward = subprocess.Popen(
        [KUBECTL, "port-forward", "pod/shell", f"{local}:{echo_server}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline()
        assert f"Forwarding from 127.0.0.1:{local} -> {echo_server}" in first, first
        payload = os.urandom(5 * 1024 * 1024)
        received = bytearray()
        with socket.create_connection(("127.0.0.1", local), timeout=30) as conn:
            sender = threading.Thread(target=conn.sendall, args=(payload,))
            sender.start()
            deadline = time.monotonic() + 60
            while len(received) < len(payload) and time.monotonic() < deadline:
                received += conn.recv(1 << 20)
            sender.join()
        assert bytes(received) == payload
    finally:
        forward.terminate()
        forward.wait(timeout=10)
