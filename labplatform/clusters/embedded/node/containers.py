"""Containers as processes: how one is started, logged, entered and stopped.

A container joins its pod's namespaces (held by the pause process) and
gets its own mount and PID namespaces: its volumes are bind mounts only it
sees, the node's data directory is hidden from it, and its command is PID 1
of its own process tree, so stopping the container (a signal to that PID 1,
then SIGKILL) takes every process it forked, fork bombs included, as
``docker stop`` does. It runs as its ``securityContext`` user with the
capability set containerd gives containers by default, and the OOM killer
prefers it to the node.

Output goes through pipes to the node, which writes the CRI log format
(``<RFC 3339 time> <stream> F <line>``) to one file per container instance,
so ``kubectl logs`` can offer ``--timestamps``, ``--since`` and ``--previous``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import shlex
import signal
import struct
import termios
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from labplatform.clusters.embedded.apiserver.node import LogOptions
from labplatform.clusters.embedded.node.sandbox import CLUSTER_INSIDE

Obj = dict[str, Any]

# containerd's default capabilities for a container that asks for no others.
DEFAULT_CAPABILITIES = (
    *("chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid", "setuid"),
    *("setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write"),
)
MAX_PROCESSES = 2048  # per uid, so a fork bomb in one container cannot starve the node
LOG_LIMIT_BYTES = 10 << 20  # per container instance; older output is dropped beyond it


@dataclass(frozen=True)
class Identity:
    """Who a container's processes are, from its (and its pod's) securityContext."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    capabilities: tuple[str, ...] | None = DEFAULT_CAPABILITIES  # None: privileged

    @classmethod
    def of(cls, pod: Obj, container: Obj) -> Identity:
        pod_context = pod.get("spec", {}).get("securityContext") or {}
        context = {**pod_context, **(container.get("securityContext") or {})}
        capabilities: tuple[str, ...] | None = None
        if not context.get("privileged"):
            caps = context.get("capabilities") or {}
            dropped = {c.lower().removeprefix("cap_") for c in caps.get("drop") or []}
            added = [c.lower().removeprefix("cap_") for c in caps.get("add") or []]
            base = [] if "all" in dropped else [c for c in DEFAULT_CAPABILITIES if c not in dropped]
            capabilities = tuple(dict.fromkeys(base + added))
        uid = int(context.get("runAsUser", 0))
        return cls(
            uid=uid,
            gid=int(context.get("runAsGroup", uid if "runAsUser" in context else 0)),
            groups=tuple(int(g) for g in pod_context.get("supplementalGroups") or ()),
            capabilities=capabilities,
        )

    def setpriv(self) -> list[str]:
        argv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}"]
        if not _groups_settable():
            argv.append("--keep-groups")  # a rootless sandbox with one uid may not setgroups
        elif self.groups:
            argv.append(f"--groups={','.join(map(str, self.groups))}")
        else:
            argv.append("--clear-groups")
        if self.capabilities is not None:
            caps = ",".join(["-all", *(f"+{c}" for c in self.capabilities)])
            argv += [f"--bounding-set={caps}", f"--inh-caps={caps}"]
        return argv


@functools.cache
def _groups_settable() -> bool:
    try:
        return Path("/proc/self/setgroups").read_text().strip() != "deny"
    except OSError:
        return True


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Command:
    """What runs, as whom, where and with what, in a container (its PID 1, or an exec)."""

    identity: Identity
    working_dir: str
    env: dict[str, str]
    argv: list[str]
    tty: bool = False

    def env_argv(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.env.items()]


def launch_argv(pause_pid: int, mounts: list[Mount], command: Command) -> list[str]:
    """The node-side command line that becomes the container."""
    lines = ["set -e"]
    for mount in mounts:
        target = shlex.quote(mount.target)
        if mount.source.is_dir():
            lines.append(f"mkdir -p {target}")
        else:
            lines.append(f"[ -e {target} ] || {{ mkdir -p $(dirname {target}); : > {target}; }}")
        lines.append(f"mount --bind {shlex.quote(str(mount.source))} {target}")
        if mount.read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    lines += [
        f"mount -t tmpfs -o size=64k,mode=700 tmpfs {CLUSTER_INSIDE}",  # the node's secrets
        "echo 1000 > /proc/self/oom_score_adj",
        f"prlimit --nproc={MAX_PROCESSES}:{MAX_PROCESSES} --pid $$",
        f"cd {shlex.quote(command.working_dir or '/')}",
        f'exec {_terminal(command.tty)}{shlex.join(command.identity.setpriv())} -- env -i "$@"',
    ]
    return [
        "nsenter", f"--target={pause_pid}", "--net", "--uts", "--ipc", "--mount", "--",
        "unshare", "--mount", "--propagation=private", "--pid", "--fork", "--kill-child",
        "--mount-proc", "--",
        "sh", "-c", "\n".join(lines), "container", *command.env_argv(), *command.argv,
    ]  # fmt: skip


def exec_argv(init_pid: int, command: Command) -> list[str]:
    """``kubectl exec``: the same namespaces, user and environment as the container's PID 1."""
    return [
        # nsenter's --wd would resolve the directory before entering the mount namespace.
        "nsenter", f"--target={init_pid}", "--net", "--uts", "--ipc", "--mount", "--pid", "--",
        *_terminal(command.tty).split(), *command.identity.setpriv(), "--",
        "env", "-i", f"--chdir={command.working_dir or '/'}", *command.env_argv(), *command.argv,
    ]  # fmt: skip


def _terminal(tty: bool) -> str:
    """The prefix that gives a process its terminal as controlling one.

    It must run inside the container's PID namespace: a shell whose session
    leader is outside it cannot set its foreground process group.
    """
    return "setsid --ctty " if tty else ""


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Listener = Callable[[str, bytes | None], None]  # (stream, data), None at the end


@dataclass
class ContainerProcess:
    """One run of a container: its process, its log, its terminal, and how it ended.

    Output is read in chunks as it comes (a shell's prompt has no newline)
    and goes both to the log and to whoever is attached (``kubectl attach``,
    ``kubectl run -it``).
    """

    name: str
    proc: asyncio.subprocess.Process
    log_path: Path
    master: int | None = None  # the container's terminal, when its spec asks for one
    started_at: str = field(default_factory=now_rfc3339)
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)
    _writer: _LogWriter = field(init=False)
    _listeners: set[Listener] = field(default_factory=set)

    @classmethod
    async def start(
        cls, name: str, argv: list[str], log_path: Path, tty: bool = False, stdin: bool = False
    ) -> ContainerProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        if tty:
            master, slave = os.openpty()
            try:  # the container takes the terminal as its controlling one (see launch_argv)
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
                )
            finally:
                os.close(slave)
            running = cls(name, proc, log_path, master)
            streams = [("stdout", terminal_reader(master))]
        else:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            running = cls(name, proc, log_path)
            assert proc.stdout is not None and proc.stderr is not None
            streams = [("stdout", proc.stdout), ("stderr", proc.stderr)]
        running._writer = _LogWriter(log_path)
        running._pumps = [
            asyncio.create_task(running._pump(stream, reader)) for stream, reader in streams
        ]
        return running

    async def _pump(self, stream: str, reader: asyncio.StreamReader) -> None:
        with self._writer.path.open("ab") as out:
            while chunk := await reader.read(65536):
                chunk = self._writer.write(out, stream, chunk)
                for listener in list(self._listeners):
                    listener(stream, chunk)
            self._writer.write(out, stream, b"", final=True)
        for listener in list(self._listeners):
            listener(stream, None)

    def listen(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def unlisten(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            await asyncio.to_thread(os.write, self.master, data)
        elif self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    def close_stdin(self) -> None:
        if self.master is None and self.proc.stdin is not None:
            self.proc.stdin.close()

    def resize(self, columns: int, rows: int) -> None:
        if self.master is not None:
            set_terminal_size(self.master, columns, rows)

    def init_pid(self) -> int | None:
        """The host pid of the container's PID 1 (the child ``unshare --fork`` made)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return None
        return int(children.split()[0]) if children.split() else None

    async def wait(self) -> int:
        """The exit code as a container runtime reports it: 128 + N for death by signal N."""
        code = await self.proc.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self.master is not None:
            os.close(self.master)
            self.master = None
        if code == 1 and self._writer.killed:
            return 128 + signal.SIGKILL
        return 128 - code if code < 0 else code

    async def stop(self, grace: float) -> None:
        """SIGTERM to the container's PID 1, SIGKILL after ``grace`` seconds, as the kubelet."""
        if self.proc.returncode is not None:
            return
        init = self.init_pid()
        with contextlib.suppress(ProcessLookupError):
            os.kill(init or self.proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await self.proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            if init:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(init, signal.SIGKILL)
        await self.wait()


class Attachment:
    """``kubectl attach``: a view of a running container's streams (an ExecProcess)."""

    def __init__(self, container: ContainerProcess, tty: bool, stdin_once: bool) -> None:
        self.container = container
        self.stdout = asyncio.StreamReader()
        self.stderr = None if tty else asyncio.StreamReader()
        self.stdin_once = stdin_once
        container.listen(self._take)

    def _take(self, stream: str, data: bytes | None) -> None:
        reader = self.stderr if stream == "stderr" and self.stderr is not None else self.stdout
        if data is None:
            reader.feed_eof()
        else:
            reader.feed_data(data)

    async def write_stdin(self, data: bytes) -> None:
        await self.container.write_stdin(data)

    async def close_stdin(self) -> None:
        if self.stdin_once:
            self.container.close_stdin()

    async def resize(self, columns: int, rows: int) -> None:
        self.container.resize(columns, rows)

    async def wait(self) -> int:
        try:
            return await self.container.wait()
        finally:
            self.container.unlisten(self._take)


def terminal_reader(master: int) -> asyncio.StreamReader:
    """A stream of what is written to a terminal's other side; it ends when all close it."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    os.set_blocking(master, False)

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of the terminal has gone
            data = b""
        if data:
            reader.feed_data(data)
            return
        loop.remove_reader(master)
        reader.feed_eof()

    loop.add_reader(master, readable)
    return reader


def set_terminal_size(master: int, columns: int, rows: int) -> None:
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


# util-linux's `unshare --fork` re-raises its child's fatal signal on itself, which
# cannot work for SIGKILL: it says this and exits 1 instead. Seen here, it means the
# container's PID 1 was killed (by the OOM killer, or `kill -9`).
_UNSHARE_SIGKILL = b"unshare: sigprocmask unblock failed: Invalid argument"


class _LogWriter:
    """CRI log lines from chunks of output: a line is written once it is complete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self.killed = False
        self._partial: dict[str, bytes] = {}

    def write(self, out: BinaryIO, stream: str, chunk: bytes, final: bool = False) -> bytes:
        """Log ``chunk``; returns what is left of it for viewers (the runtime's own line goes)."""
        pending = self._partial.pop(stream, b"") + chunk
        lines = pending.splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n") and not final:
            self._partial[stream] = lines.pop()
        shown = []
        for line in lines:
            if line.rstrip(b"\r\n") == _UNSHARE_SIGKILL:
                self.killed = True
                continue
            shown.append(line)
            if self.written > LOG_LIMIT_BYTES:
                continue
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            complete = line.endswith(b"\n")
            entry = b"%s %s %s %s" % (
                stamp.encode(),
                stream.encode(),
                b"F" if complete else b"P",
                line,
            )
            out.write(entry if complete else entry + b"\n")
            self.written += len(entry)
        out.flush()
        return chunk if not self.killed else b"".join(shown)


async def read_log(path: Path, options: LogOptions, still_running: Any) -> AsyncIterator[bytes]:
    """``kubectl logs`` over a CRI log file; with ``follow``, until ``still_running()`` is false."""
    since = None
    if options.since_seconds is not None:
        since = datetime.now(UTC) - timedelta(seconds=options.since_seconds)
    lines = path.read_bytes().splitlines(keepends=True) if path.exists() else []
    offset = sum(map(len, lines))
    if options.tail_lines is not None:
        lines = lines[-options.tail_lines :] if options.tail_lines else []
    sent = 0
    while True:
        for raw in lines:
            chunk = _format(raw, options.timestamps, since)
            if chunk is None:
                continue
            if options.limit_bytes is not None:
                chunk = chunk[: max(options.limit_bytes - sent, 0)]
                if not chunk:
                    return
            sent += len(chunk)
            yield chunk
        if not options.follow:
            return
        running = still_running()
        await asyncio.sleep(0.1)
        with path.open("rb") as log:
            log.seek(offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        offset += len(complete)
        lines = complete.splitlines(keepends=True)
        if not lines and not running:
            return


def _format(raw: bytes, timestamps: bool, since: datetime | None) -> bytes | None:
    stamp, _, rest = raw.partition(b" ")
    _stream, _, rest = rest.partition(b" ")
    tag, _, text = rest.partition(b" ")
    if since is not None:
        with contextlib.suppress(ValueError):
            if datetime.fromisoformat(stamp.decode().replace("Z", "+00:00")) < since:
                return None
    if tag == b"P":
        text = text.rstrip(b"\n")
    return stamp + b" " + text if timestamps else text


class ExecSession:
    """A command run by ``kubectl exec``, with pipes or a pseudo-terminal."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self.stderr: asyncio.StreamReader | None
        if master is None:
            assert proc.stdout is not None
            self.stdout, self.stderr = proc.stdout, proc.stderr
        else:
            self.stdout, self.stderr = terminal_reader(master), None

    @classmethod
    async def start(cls, argv: list[str], tty: bool, stdin: bool) -> ExecSession:
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            return cls(proc, None)
        master, slave = os.openpty()
        try:  # exec_argv(tty=True) makes it the command's controlling terminal
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
            )
        finally:
            os.close(slave)
        return cls(proc, master)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            await asyncio.to_thread(os.write, self.master, data)
        elif self.proc.stdin is not None:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is None and self.proc.stdin is not None:
            self.proc.stdin.close()

    async def resize(self, columns: int, rows: int) -> None:
        if self.master is not None:
            set_terminal_size(self.master, columns, rows)

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self.master is not None:
            with contextlib.suppress(TimeoutError):  # what the command wrote last
                async with asyncio.timeout(1.0):
                    while not self.stdout.at_eof():
                        await asyncio.sleep(0.02)
            with contextlib.suppress(ValueError):
                asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = None
        return code
