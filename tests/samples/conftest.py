"""The sample services as real processes on loopback, started and stopped per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def logs(self) -> str:
        return self.log.read_text()


Start = Callable[..., Running]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """``start("sentiment.logic", SA_LOGIC_VERSION="v2")``: the module serving on a free port."""
    running: list[Running] = []

    def launch(module: str, **env: str) -> Running:
        port = free_port()
        log = tmp_path / f"{module}-{port}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", f"samples.{module}", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT, text=True,
            stdout=subprocess.DEVNULL, stderr=log.open("w"),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        found = Running(url, process, log)
        running.append(found)
        wait_for_http(f"{url}/healthz", proc=process)  # type: ignore[arg-type]
        return found

    yield launch
    for found in running:
        found.process.terminate()
        found.process.wait(timeout=10)
