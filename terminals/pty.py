"""A named terminal: one PTY and its process, shared by any number of viewers.

The shell belongs to the session, not to a browser tab: viewers attach and
detach (a reload, a dropped connection, a second tab) while the process runs
on, and a new viewer first receives the recent output so the screen comes
back as it was. The terminal is as large as its smallest viewer, as
terminado's named terminals are.

Flow control: output is read from the PTY only while every viewer has room
in its queue. A flood (``yes``) then blocks the process on its own writes,
as a slow real terminal would, instead of filling memory or starving the
event loop.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import logging
import os
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

HISTORY_CHARS = 64 * 1024
READ_BYTES = 64 * 1024
QUEUE_HIGH = 64  # chunks a viewer may have unsent before the PTY is paused
QUEUE_LOW = 8
PENDING_INPUT_BYTES = 4 * 1024 * 1024  # a paste larger than this is refused, not truncated
DEFAULT_SIZE = (24, 80)


@dataclass(eq=False)
class Viewer:
    """One attached client: what it has yet to be sent, and the size it can show."""

    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    size: tuple[int, int] = DEFAULT_SIZE
    replay: str = ""  # the recent output, as it stood when the viewer attached


class Terminal:
    """A process on a PTY; create it with :meth:`start`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.viewers: set[Viewer] = set()
        self.history = ""
        self.exit_code: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._fd = -1
        self._proc: subprocess.Popen[bytes] | None = None
        self._reading = False
        self._writing = False
        self._pending = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exited = asyncio.Event()

    @property
    def alive(self) -> bool:
        return self.exit_code is None and self._proc is not None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        primary, secondary = os.openpty()
        _set_size(secondary, DEFAULT_SIZE)
        env = {**(self.env if self.env is not None else os.environ), "TERM": "xterm-256color"}
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=secondary,
                stdout=secondary,
                stderr=secondary,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
                # ...whose controlling terminal is the PTY: job control, Ctrl-C, SIGWINCH work.
                preexec_fn=_take_controlling_tty,
                close_fds=True,
            )
        finally:
            os.close(secondary)
        self._fd = primary
        os.set_blocking(primary, False)
        self._resume()
        log.info("terminal started", extra={"terminal": self.name, "pid": self._proc.pid})

    def attach(self) -> Viewer:
        """A new viewer, holding the recent output to replay; its queue gets what follows."""
        viewer = Viewer(replay=self.history)
        if not self.alive:
            viewer.queue.put_nowait(None)
        self.viewers.add(viewer)
        self.resize(viewer, *viewer.size)
        return viewer

    def detach(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)
        self._fit()
        self._maybe_resume()

    def write(self, text: str) -> None:
        """Keystrokes from a viewer. What the PTY cannot take yet waits, in order."""
        if not self.alive:
            return
        if len(self._pending) + len(text) > PENDING_INPUT_BYTES:
            raise OverflowError(
                f"terminal {self.name} is not reading its input "
                f"({len(self._pending)} bytes already waiting)"
            )
        self._pending += text.encode()
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._fd, self._pending)
            except BlockingIOError:
                break
            except OSError:  # the process is gone; _finish will follow
                self._pending.clear()
                break
            del self._pending[:written]
        if self._loop is None:
            return
        if self._pending and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not self._pending and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    def resize(self, viewer: Viewer, rows: int, cols: int) -> None:
        viewer.size = (max(rows, 1), max(cols, 1))
        self._fit()

    def _fit(self) -> None:
        if not self.viewers or not self.alive:
            return
        rows = min(v.size[0] for v in self.viewers)
        cols = min(v.size[1] for v in self.viewers)
        with contextlib.suppress(OSError):
            _set_size(self._fd, (rows, cols))

    def drained(self) -> None:
        """A viewer sent something; reading may go on if everyone has room again."""
        self._maybe_resume()

    def _maybe_resume(self) -> None:
        if not self._reading and all(v.queue.qsize() <= QUEUE_LOW for v in self.viewers):
            self._resume()

    def _resume(self) -> None:
        if self._loop is not None and self.alive and not self._reading:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause(self) -> None:
        if self._loop is not None and self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:  # EIO: the process closed the PTY
            data = b""
        if not data:
            self._finish()
            return
        text = self._decoder.decode(data)
        self.history = (self.history + text)[-HISTORY_CHARS:]
        for viewer in self.viewers:
            viewer.queue.put_nowait(text)
        if any(v.queue.qsize() >= QUEUE_HIGH for v in self.viewers):
            self._pause()

    def _finish(self) -> None:
        self._pause()
        if self._writing and self._loop is not None:
            self._loop.remove_writer(self._fd)
            self._writing = False
        assert self._proc is not None
        self.exit_code = self._proc.wait()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        for viewer in self.viewers:
            viewer.queue.put_nowait(None)
        self._exited.set()
        log.info("terminal exited", extra={"terminal": self.name, "code": self.exit_code})

    async def close(self, timeout: float = 3.0) -> None:
        """Hang up on the process group, then kill whatever is left."""
        if self._proc is None or self.exit_code is not None:
            return
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)
            try:
                await asyncio.wait_for(self._exited.wait(), timeout)
                return
            except TimeoutError:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._pause()
        self._finish()


def _take_controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_size(fd: int, size: tuple[int, int]) -> None:
    rows, cols = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class TerminalManager:
    """Terminals by name, so a reconnecting viewer finds the same shell."""

    def __init__(self) -> None:
        self._terminals: dict[str, Terminal] = {}

    def get(self, name: str) -> Terminal | None:
        terminal = self._terminals.get(name)
        return terminal if terminal is not None and terminal.alive else None

    def open(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Terminal:
        """The live terminal called ``name``, started with ``argv`` if there is none."""
        terminal = self.get(name)
        if terminal is None:
            terminal = Terminal(name, argv, env, cwd)
            terminal.start()
            self._terminals[name] = terminal
        return terminal

    def names(self) -> list[str]:
        return sorted(n for n, t in self._terminals.items() if t.alive)

    async def close(self, name: str) -> None:
        terminal = self._terminals.pop(name, None)
        if terminal is not None:
            await terminal.close()

    async def close_all(self) -> None:
        """Every process started here is stopped here (server shutdown)."""
        await asyncio.gather(*(self.close(name) for name in list(self._terminals)))
