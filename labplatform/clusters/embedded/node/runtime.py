"""The node side of ``kubectl logs``, ``exec`` and ``port-forward``.

The API server speaks the wire protocols (:mod:`..apiserver.streaming`,
:mod:`..apiserver.portforward`); this answers them from the kubelet's
containers. Port-forwarding connects from inside the pod's network
namespace to ``localhost``, as the kubelet's does, so a port bound only to
127.0.0.1 in the pod (Envoy's admin port, say) is reachable too.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.node import ExecProcess, LogOptions
from labplatform.clusters.embedded.node import linux
from labplatform.clusters.embedded.node.containers import (
    Attachment,
    Command,
    ExecSession,
    Identity,
    exec_argv,
    read_log,
)
from labplatform.clusters.embedded.node.environment import Lookup, container_environment
from labplatform.clusters.embedded.node.kubelet import ContainerState, NodeContext, PodWorker

Obj = dict[str, Any]


class EmbeddedNode:
    """:class:`~..apiserver.node.NodeRuntime` over this node's pod workers."""

    def __init__(self, context: NodeContext) -> None:
        self.context = context

    def _container(self, pod: Obj, name: str) -> tuple[PodWorker, ContainerState]:
        worker = self.context.workers.get(pod["metadata"]["uid"])
        state = worker.state(name) if worker else None
        if worker is None or state is None:
            raise errors.bad_request(
                f'container "{name}" in pod "{pod["metadata"]["name"]}" is not running on this node'
            )
        return worker, state

    def logs(self, pod: Obj, options: LogOptions) -> AsyncIterator[bytes]:
        worker, state = self._container(pod, options.container)
        generation = state.generation - (2 if options.previous else 1)
        if generation < 0:
            what = "previous terminated container" if options.previous else "container"
            raise errors.bad_request(
                f'{what} "{state.name}" in pod "{pod["metadata"]["name"]}" not found'
                if options.previous
                else f'container "{state.name}" in pod "{pod["metadata"]["name"]}" is waiting '
                f"to start: {(state.waiting or ('ContainerCreating',))[0]}"
            )
        path = worker.dir / "logs" / state.name / f"{generation}.log"
        current = state.running

        def running() -> bool:
            return (
                not options.previous
                and current is state.running
                and current is not None
                and current.proc.returncode is None
            )

        return read_log(path, options, running)

    async def exec(
        self, pod: Obj, container: str, command: list[str], tty: bool, stdin: bool
    ) -> ExecProcess:
        worker, state = self._container(pod, container)
        init = state.running.init_pid() if state.running else None
        if init is None or state.image is None:
            raise errors.bad_request(
                f'unable to upgrade connection: container not found ("{container}")'
            )
        env = container_environment(
            worker.pod,
            state.spec,
            state.image.env,
            self.context.linked_services(pod["metadata"]["namespace"]),
            Lookup(self.context.api.store.get),
        )
        if tty:
            env.setdefault("TERM", "xterm")
        identity = Identity.of(worker.pod, state.spec)
        working_dir = state.spec.get("workingDir", "")
        argv = exec_argv(init, Command(identity, working_dir, env, command, tty=tty))
        return await ExecSession.start(argv, tty, stdin)

    async def attach(self, pod: Obj, container: str, tty: bool, stdin: bool) -> ExecProcess:
        _, state = self._container(pod, container)
        if state.running is None or state.running.proc.returncode is not None:
            raise errors.bad_request(
                f"unable to upgrade connection: container {container} not found in pod "
                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}"
            )
        if stdin and not state.spec.get("stdin"):
            raise errors.bad_request(
                f"Unable to attach to stdin: container {container} was not started with stdin: true"
            )
        stdin_once = bool(state.spec.get("stdinOnce"))
        return Attachment(state.running, tty and bool(state.spec.get("tty")), stdin_once)

    async def port_forward(
        self, pod: Obj, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        worker = self.context.workers.get(pod["metadata"]["uid"])
        if worker is None or worker.sandbox is None:
            raise OSError("the pod is not running on this node")
        sock = await _connect_in(worker.sandbox.netns_path, port)
        return await asyncio.open_connection(sock=sock)


async def _connect_in(netns_path: str, port: int) -> socket.socket:
    """A TCP connection to localhost:``port`` made inside another network namespace.

    A namespace is a property of the thread that creates the socket, so a
    short-lived thread moves into the pod's namespace, connects, and ends;
    the socket stays in the pod's namespace and is used from the event loop.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def connect() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                linux.setns(fd, linux.CLONE_NEWNET)
            finally:
                os.close(fd)
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.setblocking(False)
        except OSError as error:
            loop.call_soon_threadsafe(_settle, done, None, error)
            return
        loop.call_soon_threadsafe(_settle, done, sock, None)

    threading.Thread(target=connect, name="port-forward", daemon=True).start()
    return await done


def _settle(
    future: asyncio.Future[socket.socket], sock: socket.socket | None, error: OSError | None
) -> None:
    if future.cancelled():
        if sock is not None:
            sock.close()
    elif error is not None:
        future.set_exception(error)
    elif sock is not None:
        future.set_result(sock)
