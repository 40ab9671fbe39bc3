"""The host side of one cluster: ``python -m labplatform.clusters.embedded.node.supervisor``.

It starts the cluster's sandbox, stays its parent (the sandbox dies with
it: nothing of a cluster can outlive its supervisor), forwards
``127.0.0.1:<port>`` to the API server's unix socket so host tools such as
kubectl reach the cluster without the sandbox having any address on the
host's network, and on SIGTERM stops the sandbox and removes its cgroups.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
from pathlib import Path

from labkit.logs import configure_logging
from labplatform.clusters.embedded.node import sandbox

log = logging.getLogger("labplatform.supervisor")

API_SOCKET = "api.sock"
STOP_TIMEOUT = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cluster-dir", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument(
        "--listen-fd", type=int, required=True, help="the bound loopback socket for the API"
    )
    parser.add_argument("--uid-base", type=int, default=None)
    parser.add_argument("--hide", type=Path, action="append", default=[])
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--cpus", type=float, default=1.0)
    args = parser.parse_args()
    configure_logging("json", "INFO")
    spec = sandbox.SandboxSpec(
        name=args.name,
        cluster_dir=args.cluster_dir.resolve(),
        hidden=tuple(args.hide),
        uid_base=args.uid_base,
        memory_bytes=args.memory_mb << 20,
        cpus=args.cpus,
    )
    argv = [
        f"{sandbox.VENV_INSIDE}/bin/python",
        "-m",
        "labplatform.clusters.embedded.node",
        "--cluster-dir",
        str(sandbox.CLUSTER_INSIDE),
        "--name",
        args.name,
    ]
    os.set_inheritable(args.listen_fd, False)  # a host socket has no business in the sandbox
    child = sandbox.start(spec, argv, sandbox.inside_environment())
    os.chdir(spec.cluster_dir)  # the socket's path may be longer than a unix address allows
    try:
        listener = socket.socket(fileno=args.listen_fd)
        code = asyncio.run(_supervise(child, listener))
    finally:
        sandbox.remove_cgroups(args.name)
        with contextlib.suppress(FileNotFoundError):
            Path(API_SOCKET).unlink()
    raise SystemExit(code)


async def _supervise(child: int, listener: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    exited = asyncio.ensure_future(asyncio.to_thread(os.waitpid, child, 0))
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server = await asyncio.start_server(_forward, sock=listener)
    port = listener.getsockname()[1]
    log.info("cluster supervisor started", extra={"sandbox_pid": child, "port": port})
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([exited, stop], return_when=asyncio.FIRST_COMPLETED)
    server.close()
    if not exited.done():
        os.kill(child, signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await asyncio.shield(exited)
        except TimeoutError:
            log.warning("sandbox did not stop in time; killing it")
            os.kill(child, signal.SIGKILL)
    _, status = await exited
    stop.cancel()
    code = os.waitstatus_to_exitcode(status)
    log.info("cluster supervisor stopped", extra={"exit_code": code})
    return 0 if stopping.is_set() else code


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_unix_connection(API_SOCKET)
    except OSError as error:
        # No socket yet is the normal state while the node starts (and is polled for).
        level = logging.DEBUG if isinstance(error, FileNotFoundError) else logging.WARNING
        log.log(level, "API server unreachable", extra={"error": str(error)})
        writer.close()
        return
    await asyncio.gather(
        _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
    )
    for each in (writer, upstream_writer):
        with contextlib.suppress(OSError):
            each.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One direction; its end is passed on as a half-close, so the other keeps flowing."""
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


if __name__ == "__main__":
    main()
