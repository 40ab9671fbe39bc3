"""Running a second HTTP server beside a process's main one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class SecondaryServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signals to the main one, so SIGTERM stops
    the process once, through its main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
