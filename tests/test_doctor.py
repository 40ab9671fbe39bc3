"""``labplatform doctor`` on this host, as root and as users who lack things."""

import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, VENV_BIN, free_port, is_root, run_as, unprivileged_user

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not is_root(), reason="creates users and namespaces: needs root"),
]

DOCTOR = [str(VENV_BIN / "labplatform"), "doctor"]
EMBEDDED_CHECKS = [
    "user namespace",
    "mount namespace",
    "PID namespace",
    "network namespace",
    "bridge and veth",
    "iptables NAT in a namespace",
    "Envoy",
]


def host_network_state() -> str:
    """Links, named network namespaces and NAT rules of the host, to spot leftovers."""
    parts = [
        subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout,
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout,
        subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout,
    ]
    return "\n".join(parts)


def lines_of(output: str) -> dict[str, str]:
    """Check name -> its report line."""
    found = {}
    for line in output.splitlines():
        if line.startswith("[") and "] " in line:
            name = line.split("] ", 1)[1].split(":", 1)[0]
            found[name] = line
    return found


def test_root_passes_every_embedded_check_and_leaves_nothing() -> None:
    before = host_network_state()
    port = free_port()
    result = subprocess.run(
        [*DOCTOR, "--port", str(port)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines_of(result.stdout)
    for name in [*EMBEDDED_CHECKS, "uid range mapping (rootful)", f"port {port} free"]:
        assert report[name].startswith("[ok  ]"), report[name]
    assert "rootful (root) mode" in result.stdout
    assert result.stdout.rstrip().endswith("the embedded backend can run here")
    # the kind backend's tools are reported either way, never blocking
    for tool in ("docker", "kind", "kubectl"):
        assert tool in report
    assert host_network_state() == before


def test_busy_port_is_reported_with_the_fix() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [*DOCTOR, "--port", str(port)], capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 1
    assert f"[FAIL] port {port} free: cannot listen on 127.0.0.1:{port}" in result.stdout
    assert "fix: stop what uses it, or set LABPLATFORM_PORT / --port" in result.stdout


@pytest.fixture
def repo_reachable_by_others() -> None:
    """A non-root user must be able to execute the venv; CI's clone may sit in /root."""
    probe = Path(REPO)
    for part in [probe, *probe.parents]:
        if not part.stat().st_mode & 0o001:
            pytest.skip(f"{part} is not searchable by other users, so they cannot run the venv")


@pytest.mark.usefixtures("repo_reachable_by_others")
def test_non_root_user_without_subordinate_uids_is_told_what_is_missing() -> None:
    with unprivileged_user(with_subuids=False) as user:
        result = run_as(user, [*DOCTOR, "--port", str(free_port())], timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    report = lines_of(result.stdout)
    assert "rootless (non-root user) mode" in result.stdout
    line = report["uid range mapping (rootless)"]
    assert line.startswith("[FAIL]")
    assert f"user {user} has 0 subordinate uids in /etc/subuid, needs 65536" in line
    assert "--add-subuids" in result.stdout and f" {user}  (needed by: embedded)" in result.stdout
    assert "cannot run here: uid range mapping (rootless)" in result.stdout


@pytest.mark.usefixtures("repo_reachable_by_others")
def test_non_root_user_with_subordinate_uids_can_run_rootless() -> None:
    with unprivileged_user(with_subuids=True) as user:
        result = run_as(user, [*DOCTOR, "--port", str(free_port())], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines_of(result.stdout)
    for name in [*EMBEDDED_CHECKS, "uid range mapping (rootless)"]:
        assert report[name].startswith("[ok  ]"), report[name]
