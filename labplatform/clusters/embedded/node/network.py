"""The node's network: a bridge for pods, an address for each, and a namespace per pod.

Everything here happens inside the cluster's own network namespace (see
:mod:`.sandbox`), so none of it can reach, or be reached from, the host's
network: the bridge has no uplink, and no route leads out.

A pod's namespaces are held by a "pause" process, as in Kubernetes: it
owns the pod's network, UTS (hostname = pod name) and IPC namespaces and a
mount namespace whose ``/etc`` is an overlay carrying the pod's own
``hosts``, ``resolv.conf`` and ``hostname``, and whose ``/tmp`` and
``/dev/shm`` are its own. Containers join those namespaces; when the pause
process dies, the namespaces go with the last process in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "cbr0"
POD_CIDR = ipaddress.IPv4Network("10.244.0.0/16")
GATEWAY = str(POD_CIDR.network_address + 1)
SERVICE_CIDR = "10.96.0.0/16"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"

_PAUSE_SCRIPT = """
set -e
hostname "$1"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$2/etc,workdir=$2/etc-work,userxattr" /etc
exec sleep infinity
"""


class NetworkError(RuntimeError):
    """A network command failed; the message carries the command and what it said."""


async def run(*argv: str, stdin: bytes | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {err.decode(errors='replace').strip()}")
    return out.decode()


async def set_up_node() -> None:
    """The bridge pods attach to, and routing between pods and Service addresses."""
    await run(
        "ip",
        "-batch",
        "-",
        stdin=(
            "link set lo up\n"
            f"link add {BRIDGE} type bridge\n"
            f"addr add {GATEWAY}/{POD_CIDR.prefixlen} dev {BRIDGE}\n"
            f"link set {BRIDGE} up\n"
            # Service addresses exist only as iptables rules; the route gives the node's
            # own connections to them a way out for NAT to rewrite.
            f"route add {SERVICE_CIDR} dev {BRIDGE} src {GATEWAY}\n"
        ).encode(),
    )
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    # Service traffic leaves by the bridge it came in on, which would make the node send
    # ICMP redirects; they use up the per-host ICMP budget that the "connection refused"
    # of a Service without endpoints needs, so a client would wait out a timeout instead.
    for interface in ("all", "default", BRIDGE):
        Path(f"/proc/sys/net/ipv4/conf/{interface}/send_redirects").write_text("0")


class AddressPool:
    """Pod addresses, handed out in order and reused last, so a new pod rarely gets a dead one's."""

    def __init__(self) -> None:
        self._used: set[str] = {GATEWAY}
        self._next = POD_CIDR.network_address + 2

    def allocate(self) -> str:
        hosts = POD_CIDR.num_addresses - 2
        for _ in range(hosts):
            candidate = self._next
            self._next += 1
            if self._next >= POD_CIDR.broadcast_address:
                self._next = POD_CIDR.network_address + 2
            if str(candidate) not in self._used:
                self._used.add(str(candidate))
                return str(candidate)
        raise NetworkError(f"the pod network {POD_CIDR} has no free address")

    def release(self, address: str) -> None:
        self._used.discard(address)


@dataclass
class PodSandbox:
    """One pod's namespaces, held by its pause process."""

    netns: str
    ip: str
    pause: asyncio.subprocess.Process

    @property
    def pid(self) -> int:
        return self.pause.pid

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"


def etc_files(pod_dir: Path, hostname: str, ip: str, namespace: str) -> None:
    """The files Kubernetes writes into every pod: hosts, resolv.conf, hostname."""
    etc = pod_dir / "etc"
    (pod_dir / "etc-work").mkdir(parents=True, exist_ok=True)
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hostname").write_text(f"{hostname}\n")
    (etc / "hosts").write_text(
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        f"{ip}\t{hostname}\n"
    )
    search = f"{namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}"
    (etc / "resolv.conf").write_text(
        f"search {search}\nnameserver {DNS_SERVICE_IP}\noptions ndots:5\n"
    )


async def create_pod_sandbox(
    uid: str, hostname: str, pod_dir: Path, namespace: str, addresses: AddressPool
) -> PodSandbox:
    """Start the pause process and wire its namespace to the bridge."""
    netns = f"p-{uid.replace('-', '')[:12]}"
    host_veth = f"v{netns[2:]}"
    ip = addresses.allocate()
    try:
        etc_files(pod_dir, hostname, ip, namespace)
    except BaseException:
        addresses.release(ip)
        raise
    pause = await asyncio.create_subprocess_exec(
        "unshare",
        "--net",
        "--uts",
        "--ipc",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        _PAUSE_SCRIPT,
        "pause",
        hostname,
        str(pod_dir),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    sandbox = PodSandbox(netns, ip, pause)
    try:
        await _wait_for_own_netns(pause)
        await run("ip", "netns", "attach", netns, str(pause.pid))
        await run(
            "ip",
            "-batch",
            "-",
            stdin=(
                f"link add {host_veth} type veth peer name eth0 netns {netns}\n"
                f"link set {host_veth} master {BRIDGE}\n"
                f"link set {host_veth} type bridge_slave hairpin on\n"
                f"link set {host_veth} up\n"
            ).encode(),
        )
        await run(
            "ip",
            "-n",
            netns,
            "-batch",
            "-",
            stdin=(
                "link set lo up\n"
                f"addr add {ip}/{POD_CIDR.prefixlen} dev eth0\n"
                "link set eth0 up\n"
                f"route add default via {GATEWAY}\n"
            ).encode(),
        )
    except BaseException:
        await remove_pod_sandbox(sandbox, addresses)
        raise
    return sandbox


async def _wait_for_own_netns(pause: asyncio.subprocess.Process) -> None:
    """Until the pause process has made the pod's namespaces and mounts and become ``sleep``.

    Its argv[0] must be ``sleep``: the shell before it carries the script, whose text
    says "sleep" too, and a container that joined then would miss the pod's ``/etc``.
    """
    node = Path("/proc/self/ns/net").stat().st_ino
    for _ in range(500):
        if pause.returncode is not None:
            break
        with contextlib.suppress(OSError):
            execed = Path(f"/proc/{pause.pid}/cmdline").read_bytes().startswith(b"sleep\0")
            if execed and Path(f"/proc/{pause.pid}/ns/net").stat().st_ino != node:
                return
        await asyncio.sleep(0.005)
    error = await pause.stderr.read() if pause.stderr else b""
    raise NetworkError(f"the pod's pause process did not start: {error.decode().strip()}")


async def remove_pod_sandbox(sandbox: PodSandbox, addresses: AddressPool) -> None:
    """Kill the pause process and forget the namespace; the kernel takes the veth with it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sandbox.pause.pid, signal.SIGKILL)
    await sandbox.pause.wait()
    with contextlib.suppress(NetworkError):
        await run("ip", "netns", "delete", sandbox.netns)
    addresses.release(sandbox.ip)
