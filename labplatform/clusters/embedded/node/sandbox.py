"""The box a cluster runs in: its own user, mount, PID, network, UTS and IPC namespaces.

Everything of a cluster (its API server, kubelet, DNS, service rules and
every pod) lives inside, so the kernel does the cleanup: when the sandbox's
first process exits, its PID namespace takes every pod with it, and the
network namespaces, veths, bridge, iptables rules, mounts and ``/dev/shm``
go with the last process that held them. Only the cgroup directories live
outside, and :func:`remove_cgroups` (run by ``cluster gc``) takes those.

The filesystem inside is the host's, read-only, with fresh ``/run``,
``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/root`` and ``/home``, the course
server's data directory hidden, and three bind mounts under
:data:`INSIDE`: the project's source and virtualenv (read-only) and the
cluster's own directory (read-write), reached through file descriptors
opened before anything is hidden, because the source may sit under a
directory (a CI clone in ``/root``) that the sandbox's uid cannot traverse.

As root the user namespace maps 65536 uids of the cluster's own range, so
pods can run as 1337 (Envoy) or any other user and none of them is root on
the host. As another user it maps the range from ``/etc/subuid`` when there
is one, and otherwise only that user, as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labplatform.clusters.embedded.node import linux

INSIDE = Path("/run/labplatform")
CLUSTER_INSIDE = INSIDE / "cluster"
SOURCE_INSIDE = INSIDE / "src"
VENV_INSIDE = INSIDE / "venv"
UID_RANGE = 65536
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/root", "/home")
TOOLS = {"meshctl": "mesh_runtime.cli"}
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "labplatform"


@dataclass(frozen=True)
class SandboxSpec:
    """What one cluster's sandbox is made of."""

    name: str
    cluster_dir: Path
    hidden: tuple[Path, ...] = ()  # e.g. the course server's data directory
    uid_base: int | None = None  # the host uid inside uid 0 maps to (root only)
    memory_bytes: int = 2 << 30
    max_pids: int = 4096
    cpus: float = 1.0  # a share of the host's cores; a busy lab must not starve the others
    source_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parents[4])
    venv_dir: Path = field(default_factory=lambda: Path(sys.prefix))


def inside_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the sandbox's first process: our code and tools first on the paths."""
    return {
        "PATH": f"{INSIDE}/bin:{VENV_INSIDE}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
        "/sbin:/bin",
        "PYTHONPATH": str(SOURCE_INSIDE),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        **(extra or {}),
    }


# -- the host side ------------------------------------------------------------


def start(spec: SandboxSpec, argv: list[str], env: dict[str, str]) -> int:
    """Start ``argv`` as the sandbox's first process; returns the host pid of its parent.

    The returned process waits for the sandbox and exits with its status;
    signal it to stop the sandbox. It dies, and the sandbox with it, if the
    caller exits: the caller is meant to be a supervisor that lives as long.
    """
    if os.geteuid() == 0 and spec.uid_base is not None:
        _chown_tree(spec.cluster_dir, spec.uid_base)
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported through its exit code
        os.close(to_parent_r)
        os.close(to_child_w)
        try:
            _enter(spec, argv, env, to_parent_w, to_child_r)
        except BaseException as error:
            os.write(2, f"sandbox: {error}\n".encode())
        finally:
            os._exit(70)
    os.close(to_parent_w)
    os.close(to_child_r)
    try:
        if os.read(to_parent_r, 1) != b"u":
            raise OSError("the sandbox failed before its user namespace was made")
        _map_users(pid, spec)
        _join_cgroups(pid, spec)
        os.write(to_child_w, b"m")
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(to_parent_r)
        os.close(to_child_w)
    return pid


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid)
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(Path(directory, name), uid, uid, follow_symlinks=False)


def _map_users(pid: int, spec: SandboxSpec) -> None:
    if os.geteuid() == 0 and spec.uid_base is not None:
        for kind in ("uid", "gid"):
            Path(f"/proc/{pid}/{kind}_map").write_text(f"0 {spec.uid_base} {UID_RANGE}\n")
        return
    user = pwd.getpwuid(os.geteuid()).pw_name
    subuid, subgid = _subordinate("/etc/subuid", user), _subordinate("/etc/subgid", user)
    if subuid and subgid and shutil.which("newuidmap") and shutil.which("newgidmap"):
        for tool, (start_id, count), own in (
            ("newuidmap", subuid, os.getuid()),
            ("newgidmap", subgid, os.getgid()),
        ):
            subprocess.run(
                [tool, str(pid), "0", str(own), "1", "1", str(start_id), str(count)],
                check=True,
                capture_output=True,
            )
        return
    Path(f"/proc/{pid}/setgroups").write_text("deny")
    Path(f"/proc/{pid}/uid_map").write_text(f"0 {os.getuid()} 1\n")
    Path(f"/proc/{pid}/gid_map").write_text(f"0 {os.getgid()} 1\n")


def _subordinate(path: str, user: str) -> tuple[int, int] | None:
    """The first range of at least 65535 ids ``path`` grants ``user``."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            owner, _, rest = line.partition(":")
            start_id, _, count = rest.partition(":")
            if owner == user and count.isdigit() and int(count) >= UID_RANGE - 1:
                return int(start_id), UID_RANGE - 1
    return None


def cgroup_dirs(name: str) -> list[Path]:
    """Where this cluster's limits live: v1 memory and pids hierarchies, or one v2 group."""
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        return [CGROUP_ROOT / f"{CGROUP_PARENT}-{name}"]
    return [CGROUP_ROOT / kind / CGROUP_PARENT / name for kind in ("memory", "pids", "cpu")]


def _join_cgroups(pid: int, spec: SandboxSpec) -> None:
    """Cap the whole sandbox's memory, processes and CPU, where this host lets us."""
    if os.geteuid() != 0:
        return  # a user's cgroups belong to systemd here; pods get rlimits instead
    period = 100_000
    quota = int(period * spec.cpus)
    limits = {
        "memory.limit_in_bytes": str(spec.memory_bytes),
        "memory.max": str(spec.memory_bytes),
        "pids.max": str(spec.max_pids),
        "cpu.cfs_period_us": str(period),
        "cpu.cfs_quota_us": str(quota),
        "cpu.max": f"{quota} {period}",
    }
    for directory in cgroup_dirs(spec.name):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for knob, value in limits.items():
                if (directory / knob).exists():
                    (directory / knob).write_text(value)
            (directory / "cgroup.procs").write_text(str(pid))
        except OSError:
            continue  # no such controller here: the rlimits still hold


def remove_cgroups(name: str, settle: float = 2.0) -> None:
    """Remove the cluster's cgroups once no process is left in them.

    The kernel may refuse (EBUSY) for a moment after the last process has
    gone, while it tears the group down; that is waited out for ``settle``.
    """
    for directory in cgroup_dirs(name):
        deadline = time.monotonic() + settle
        while directory.exists():
            try:
                directory.rmdir()
            except OSError:
                if _has_processes(directory) or time.monotonic() > deadline:
                    break  # a live cluster's group stays
                time.sleep(0.05)
        if directory.parent.name == CGROUP_PARENT:
            with contextlib.suppress(OSError):
                directory.parent.rmdir()  # the last cluster takes the parent along


def _has_processes(directory: Path) -> bool:
    try:
        return bool((directory / "cgroup.procs").read_text().strip())
    except OSError:
        return False


def cgroup_names() -> set[str]:
    """Clusters that have cgroup directories on this host (for ``gc``)."""
    names = set()
    for kind in ("memory", "pids", "cpu"):
        parent = CGROUP_ROOT / kind / CGROUP_PARENT
        with contextlib.suppress(OSError):
            names |= {entry.name for entry in parent.iterdir() if entry.is_dir()}
    with contextlib.suppress(OSError):
        names |= {
            entry.name.removeprefix(f"{CGROUP_PARENT}-")
            for entry in CGROUP_ROOT.iterdir()
            if entry.name.startswith(f"{CGROUP_PARENT}-")
        }
    return names


# -- the sandbox side (runs in the forked child) -------------------------------


def _enter(spec: SandboxSpec, argv: list[str], env: dict[str, str], report: int, wait: int) -> None:
    supervisor = os.getppid()
    linux.die_with_parent()
    rootful = os.geteuid() == 0
    if rootful:  # mounts made while still root on the host become locked in the sandbox
        linux.unshare(linux.CLONE_NEWNS)
        _prepare_filesystem(spec, owner=spec.uid_base)
    linux.unshare(linux.CLONE_NEWUSER)
    os.write(report, b"u")
    if os.read(wait, 1) != b"m":
        raise OSError("the supervisor did not map the sandbox's users")
    with contextlib.suppress(PermissionError):  # denied when only one uid is mapped
        os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    linux.die_with_parent()  # a change of credentials clears the parent-death signal
    if os.getppid() != supervisor:
        raise OSError("the supervisor exited while the sandbox was being made")
    if not rootful:
        linux.unshare(linux.CLONE_NEWNS)
        _prepare_filesystem(spec, owner=None)
    linux.unshare(
        linux.CLONE_NEWNS
        | linux.CLONE_NEWPID
        | linux.CLONE_NEWNET
        | linux.CLONE_NEWUTS
        | linux.CLONE_NEWIPC
    )
    socket.sethostname(spec.name)
    init = os.fork()
    if init:
        _wait_for(init)
    _run_init(argv, env)


def _prepare_filesystem(spec: SandboxSpec, owner: int | None) -> None:
    """The sandbox's view of the files; ``owner`` is the host uid its root will be, if known."""
    linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)
    sources = {  # opened before anything is hidden, bound after
        SOURCE_INSIDE: os.open(spec.source_dir, os.O_PATH),
        VENV_INSIDE: os.open(spec.venv_dir, os.O_PATH),
        CLUSTER_INSIDE: os.open(spec.cluster_dir, os.O_PATH),
    }
    linux.set_read_only("/")
    for kernel_fs in ("/proc", "/sys", "/dev"):  # a fresh proc or sysfs may not be more open
        linux.set_read_only(kernel_fs, False)  # than the one it covers; devices need no ro
    private = linux.MS_NOSUID | linux.MS_NODEV
    # Made before the user namespace as root, so owned by the uid the sandbox's root will be.
    owned = f",uid={owner},gid={owner}" if owner is not None else ""
    linux.mount("tmpfs", "/run", "tmpfs", private, f"mode=755{owned}")
    for path in (*PRIVATE_DIRS, *map(str, spec.hidden)):
        with contextlib.suppress(OSError):  # absent here, or already under a hidden one
            linux.mount("tmpfs", path, "tmpfs", private, f"mode=1777{owned}")
    for target, fd in sources.items():
        target.mkdir(parents=True, exist_ok=True)
        linux.mount(f"/proc/self/fd/{fd}", str(target), None, linux.MS_BIND | linux.MS_REC)
        linux.set_read_only(str(target), target != CLUSTER_INSIDE)  # binds copy the ro flag
        os.close(fd)
    _write_tools()


def _write_tools() -> None:
    """Commands for the cluster's shell that run the project's code with the sandbox's paths
    (the venv's own entry scripts name the host's interpreter path, which may be out of reach)."""
    tools = INSIDE / "bin"
    tools.mkdir(exist_ok=True)
    for command, module in TOOLS.items():
        script = tools / command
        script.write_text(f'#!/bin/sh\nexec {VENV_INSIDE}/bin/python -m {module} "$@"\n')
        script.chmod(0o755)


def _wait_for(pid: int) -> None:
    """Stand between the host and the sandbox's init: pass signals in, its status out."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _run_init(argv: list[str], env: dict[str, str]) -> None:
    """PID 1 of the sandbox: mount what belongs to its namespaces, start ``argv``, reap orphans."""
    linux.die_with_parent()
    linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV)
    linux.mount("sysfs", "/sys", "sysfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_RDONLY)
    linux.mount("tmpfs", "/dev/shm", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=1777")
    main = os.fork()
    if main == 0:
        os.setsid()
        os.chdir(CLUSTER_INSIDE)
        os.execvpe(argv[0], argv, env)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(main, signum))
    for pid, status in _reap():
        if pid == main:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _reap() -> Iterator[tuple[int, int]]:
    while True:
        try:
            yield os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            return
