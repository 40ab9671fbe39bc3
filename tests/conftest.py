"""Fixtures shared by the whole suite."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import VENV_BIN, free_port, wait_for_http


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's settings or writes to their data directory."""
    for name in list(os.environ):
        if name.startswith("LABPLATFORM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LABPLATFORM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LABPLATFORM_POOL_SIZE", "0")  # a test that wants warm clusters says so


@dataclass
class RunningServer:
    """A ``labplatform serve`` process on a port of its own."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    courses_dir: Path

    def log_records(self) -> list[dict[str, object]]:
        """The server's log so far, one parsed JSON object per line."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]


@pytest.fixture
def shared_tmp_dir() -> Iterator[Path]:
    """A temporary folder other users can enter (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="labplatform-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def courses_dir(tmp_path: Path) -> Path:
    path = tmp_path / "courses"
    path.mkdir()
    return path


@pytest.fixture
def server(tmp_path: Path, courses_dir: Path) -> Iterator[RunningServer]:
    """The real course server started through its CLI, stopped with SIGTERM."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {
        **os.environ,
        "LABPLATFORM_LOG_FORMAT": "json",
        "LABPLATFORM_COURSES_DIR": str(courses_dir),
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "labplatform"), "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    running = RunningServer(f"http://127.0.0.1:{port}", proc, log_path, courses_dir)
    try:
        wait_for_http(f"{running.url}/healthz", proc=proc)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
