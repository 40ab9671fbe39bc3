"""The contract between the API server and the node runtime that runs pods.

The API server owns the wire protocols (chunked logs, the v5.channel.k8s.io
exec websocket, SPDY port-forwarding); the node runtime owns processes and
network namespaces. :class:`~labplatform.clusters.embedded.node.runtime.EmbeddedNode`
implements :class:`NodeRuntime`; a server with none attached (a test's)
answers that the pod has no running container.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class LogOptions:
    """The ``pods/log`` query, as kubectl sends it."""

    container: str
    follow: bool = False
    previous: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


class ExecProcess(Protocol):
    """A command started in a container, with its standard streams."""

    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader | None  # None with a tty: the tty carries both

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def resize(self, columns: int, rows: int) -> None: ...

    async def wait(self) -> int:
        """The exit code, once the command has finished."""
        ...


class NodeRuntime(Protocol):
    """What the API server asks of the node that runs a cluster's pods."""

    def logs(self, pod: dict[str, Any], options: LogOptions) -> AsyncIterator[bytes]:
        """The container's log; with ``follow``, it ends when the container does."""
        ...

    async def exec(
        self, pod: dict[str, Any], container: str, command: list[str], tty: bool, stdin: bool
    ) -> ExecProcess: ...

    async def attach(
        self, pod: dict[str, Any], container: str, tty: bool, stdin: bool
    ) -> ExecProcess:
        """The running container's own streams (``kubectl attach``, ``kubectl run -it``)."""
        ...

    async def port_forward(
        self, pod: dict[str, Any], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` inside the pod's network namespace."""
        ...
