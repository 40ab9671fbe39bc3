"""Helpers the tests share: free ports, waiting for servers, other users."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A port nothing listens on now; the kernel picks it, so parallel tests differ."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(
    url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until it answers 200, failing early if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s (last: {last})")


@contextmanager
def unprivileged_user(with_subuids: bool = False) -> Iterator[str]:
    """A throwaway host user, removed afterwards; needs root."""
    name = f"lpt{uuid.uuid4().hex[:8]}"
    count = "65536" if with_subuids else "0"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/bin/sh",
         "-K", f"SUB_UID_COUNT={count}", "-K", f"SUB_GID_COUNT={count}", name],
        check=True,
    )  # fmt: skip
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


def run_as(
    user: str, argv: list[str], env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user`` with a clean environment of that user's."""
    import pwd

    entry = pwd.getpwnam(user)
    user_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": "/tmp",
        "USER": user,
        "LOGNAME": user,
        **(env or {}),
    }
    return subprocess.run(
        [
            "/usr/bin/setpriv",
            f"--reuid={entry.pw_uid}",
            f"--regid={entry.pw_gid}",
            "--init-groups",
            *argv,
        ],
        env=user_env,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def is_root() -> bool:
    return os.geteuid() == 0


def have(command: str) -> bool:
    return shutil.which(command) is not None


class JsonRequestHandler(BaseHTTPRequestHandler):
    """A quiet test HTTP handler that answers with JSON."""

    def send_json(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass
