"""Creating, listing and deleting embedded clusters on this host.

Each cluster is a directory under ``<data_dir>/clusters/<name>`` holding its
credentials, its object store, its kubeconfig and ``cluster.json``; and one
supervisor process (:mod:`.node.supervisor`), started in a session of its
own so it outlives the command that created it, which holds the cluster's
sandbox (API server, node, pods) and is stopped only by ``stop`` or
``delete``. The directory is the source of truth: a cluster whose process
has died shows as ``stopped`` and ``start`` brings it back with every object
it had, its pods started afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from labplatform.clusters.backend import ClusterError, Progress, shell_prompt
from labplatform.clusters.embedded.node.sandbox import (
    CLUSTER_INSIDE,
    UID_RANGE,
    cgroup_names,
    inside_environment,
    remove_cgroups,
)
from labplatform.clusters.embedded.pki import ClusterCredentials
from labplatform.clusters.kubeconfig import write_kubeconfig

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LOG_FILE = "cluster.log"
SUPERVISOR_MODULE = "labplatform.clusters.embedded.node.supervisor"
NODE_KUBECONFIG = "kubeconfig-node"  # written by the node, for inside
UID_BASE = 1 << 20  # sandboxes' uid ranges start here, 65536 apiece


@dataclass
class ClusterInfo:
    name: str
    port: int
    created: str
    pid: int = 0
    uid_base: int = 0  # the host uid the sandbox's root maps to (root hosts only)
    memory_mb: int = 2048  # the whole cluster's limits (cgroups, on a root host)
    cpus: float = 1.0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"


class EmbeddedClusters:
    """The embedded clusters under one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "clusters"

    def directory(self, name: str) -> Path:
        return self.root / name

    def kubeconfig(self, name: str) -> Path:
        self.info(name)
        return self.directory(name) / "kubeconfig"

    def create(
        self,
        name: str,
        progress: Progress = lambda _: None,
        memory_mb: int = 2048,
        cpus: float = 1.0,
    ) -> ClusterInfo:
        if not NAME_RE.match(name):
            raise ClusterError(
                f"invalid cluster name {name!r}: use 1-40 lower-case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        directory = self.directory(name)
        if directory.exists():
            raise ClusterError(f"cluster {name!r} already exists (delete it first)")
        directory.mkdir(parents=True, mode=0o700)
        try:
            progress("creating the cluster's CA, serving certificate and token")
            credentials = ClusterCredentials.load_or_create(directory / "pki")
            listener = _listen(0)
            info = ClusterInfo(
                name,
                int(listener.getsockname()[1]),
                datetime.now(UTC).isoformat(timespec="seconds"),
                uid_base=self._free_uid_base() if os.geteuid() == 0 else 0,
                memory_mb=memory_mb,
                cpus=cpus,
            )
            self._write_kubeconfig(info, credentials)
            self._save(info)
            self._start(info, progress, listener)
        except BaseException:
            self._kill(name)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return info

    def start(self, name: str, progress: Progress = lambda _: None) -> ClusterInfo:
        info = self.info(name)
        if self.running(info):
            return info
        try:
            listener = _listen(info.port)
        except OSError:  # the port went to someone else while the cluster was stopped
            listener = _listen(0)
            info.port = int(listener.getsockname()[1])
            credentials = ClusterCredentials.load_or_create(self.directory(name) / "pki")
            self._write_kubeconfig(info, credentials)
            progress(f"port taken meanwhile; the API moved to {info.server} (kubeconfig updated)")
        self._start(info, progress, listener)
        return info

    def _write_kubeconfig(self, info: ClusterInfo, credentials: ClusterCredentials) -> None:
        """The admin kubeconfig for the cluster's API on the host, as ``cluster create`` prints."""
        write_kubeconfig(self.directory(info.name) / "kubeconfig", info.name, info.server,
                         credentials.ca_pem, credentials.token)  # fmt: skip

    def stop(self, name: str) -> None:
        self.info(name)
        self._kill(name)

    def delete(self, name: str) -> None:
        self.info(name)
        self._kill(name)
        with contextlib.suppress(FileNotFoundError):  # another deleter may have been first
            shutil.rmtree(self.directory(name))

    def list(self) -> list[tuple[ClusterInfo, bool]]:
        if not self.root.is_dir():
            return []
        found = []
        for directory in sorted(self.root.iterdir()):
            if (directory / "cluster.json").is_file():
                info = self.info(directory.name)
                found.append((info, self.running(info)))
        return found

    def shell_command(self, name: str, command: Sequence[str]) -> Sequence[str]:
        """The host command that runs ``command`` (a login shell if empty) inside the node.

        It joins every namespace of the sandbox's first process, so it sees
        the cluster as its pods' node does: kubectl set up for the API on the
        bridge, the pods' addresses routable, the host's network absent.
        """
        info = self.info(name)
        init = self._sandbox_init(info)
        if init is None:
            raise ClusterError(f"cluster {name!r} is not running (start it first)")
        environment = [
            f"{key}={value}"
            for key, value in inside_environment(
                {
                    "KUBECONFIG": f"{CLUSTER_INSIDE}/{NODE_KUBECONFIG}",
                    "TERM": os.environ.get("TERM", "xterm"),
                    **shell_prompt(name),
                }
            ).items()
        ]
        return [
            "nsenter",
            f"--target={init}",
            "--all",
            "--",
            "env",
            "-i",
            "--chdir=/root",
            *environment,
            *(command or ["bash", "--norc", "-i"]),
        ]

    def processes(self, name: str) -> Sequence[int]:
        """Host pids of every process of the cluster: supervisor, node and pods."""
        info = self.info(name)
        if not self.running(info):
            return []
        found: list[int] = []
        frontier = [info.pid]
        while frontier:
            pid = frontier.pop()
            found.append(pid)
            frontier += _children(pid)
        return found

    def node_pid(self, name: str) -> int | None:
        """The host pid of the node process (API server, kubelet, proxy, DNS)."""
        init = self._sandbox_init(self.info(name))
        children = _children(init) if init else []
        return children[0] if children else None

    def _sandbox_init(self, info: ClusterInfo) -> int | None:
        """The host pid of the sandbox's PID 1: the supervisor's grandchild."""
        if not self.running(info):
            return None
        pid = info.pid
        for _ in range(2):
            children = _children(pid)
            if not children:
                return None
            pid = children[0]
        return pid

    def gc(self, progress: Progress = lambda _: None) -> Sequence[str]:
        """Remove what crashed clusters left: cgroups, stale sockets, orphaned supervisors.

        Everything else a cluster makes lives in its namespaces and went with
        its processes; this is the little that lives on the host.
        """
        removed = []
        live = {info.name for info, running in self.list() if running}
        for pid in _supervisor_pids():
            cluster_dir = _argument(pid, "--cluster-dir")
            if cluster_dir and not (Path(cluster_dir) / "cluster.json").is_file():
                progress(f"stopping orphaned cluster supervisor {pid} ({cluster_dir})")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                removed.append(f"process {pid}")
        for name in cgroup_names() - live:
            remove_cgroups(name)
            if name not in {n for n in cgroup_names()}:
                removed.append(f"cgroup {name}")
        for info, running in self.list():
            socket_path = self.directory(info.name) / "api.sock"
            if not running and socket_path.exists():
                socket_path.unlink()
                removed.append(f"socket {socket_path}")
        for item in removed:
            progress(f"removed {item}")
        return removed

    def running(self, info: ClusterInfo) -> bool:
        """The recorded process is alive and is this cluster's API server."""
        if not info.pid:
            return False
        try:
            cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return str(self.directory(info.name)).encode() in cmdline

    # -- internals -----------------------------------------------------------

    def _start(self, info: ClusterInfo, progress: Progress, listener: socket.socket) -> None:
        """Start the supervisor with the API's loopback socket already bound.

        Binding here and handing the socket over leaves no moment in which
        another cluster (or anything else) could take the port.
        """
        directory = self.directory(info.name)
        progress(f"starting the cluster's sandbox, API server and node; API on {info.server}")
        command = [
            sys.executable,
            "-m",
            SUPERVISOR_MODULE,
            "--cluster-dir",
            str(directory),
            "--name",
            info.name,
            "--listen-fd",
            str(listener.fileno()),
            "--hide",
            str(self.data_dir.resolve()),
            "--memory-mb",
            str(info.memory_mb),
            "--cpus",
            str(info.cpus),
        ]
        if info.uid_base:
            command += ["--uid-base", str(info.uid_base)]
        with (directory / LOG_FILE).open("ab") as log_file, listener:
            proc = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(listener.fileno(),),
            )
        info.pid = proc.pid
        self._save(info)
        began = time.monotonic()
        self._wait_ready(info, proc)
        progress(f"API server ready in {time.monotonic() - began:.1f} s")

    def _wait_ready(self, info: ClusterInfo, proc: subprocess.Popen[bytes]) -> None:
        context = ssl.create_default_context(cafile=self.directory(info.name) / "pki" / "ca.crt")
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = _tail(self.directory(info.name) / LOG_FILE)
                raise ClusterError(f"the cluster exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{info.server}/readyz", context=context, timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise ClusterError(f"the API server did not become ready within {READY_TIMEOUT:.0f} s")

    def _kill(self, name: str) -> None:
        path = self.directory(name) / "cluster.json"
        if not path.is_file():
            return
        info = self.info(name)
        if not self.running(info):
            return
        os.killpg(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and self.running(info):
            time.sleep(0.05)
        if self.running(info):
            os.killpg(info.pid, signal.SIGKILL)

    def _free_uid_base(self) -> int:
        taken = {info.uid_base for info, _ in self.list()}
        slot = 0
        while UID_BASE + slot * UID_RANGE in taken:
            slot += 1
        return UID_BASE + slot * UID_RANGE

    def info(self, name: str) -> ClusterInfo:
        path = self.directory(name) / "cluster.json"
        if not NAME_RE.match(name) or not path.is_file():
            raise ClusterError(f"no cluster named {name!r} (see `labplatform cluster list`)")
        return ClusterInfo(**json.loads(path.read_text()))

    def _save(self, info: ClusterInfo) -> None:
        path = self.directory(info.name) / "cluster.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2))
        tmp.replace(path)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _supervisor_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if SUPERVISOR_MODULE.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _argument(pid: int, flag: str) -> str | None:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return None
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def _listen(port: int) -> socket.socket:
    sock = socket.socket()
    # A restarted cluster keeps its port even while its last connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
