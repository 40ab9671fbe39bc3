"""scripts/host-packages.sh: what `make setup` installs from Debian, or asks for."""

import shutil
import subprocess

import pytest

from tests.helpers import REPO, is_root, run_as, unprivileged_user

SCRIPT = str(REPO / "scripts" / "host-packages.sh")


def test_nothing_to_do_when_everything_is_present() -> None:
    result = subprocess.run(["bash", SCRIPT, "test"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # installs nothing, says nothing


@pytest.mark.root
@pytest.mark.skipif(not is_root(), reason="creates a user: needs root")
def test_non_root_user_is_told_the_exact_packages(shared_tmp_dir) -> None:
    # A PATH with bash and coreutils but none of the tools makes them all "missing".
    bindir = shared_tmp_dir / "bin"
    bindir.mkdir()
    for tool in ("bash", "sort", "id", "printf", "grep", "env"):
        (bindir / tool).symlink_to(f"/usr/bin/{tool}")
    # A copy the user can read wherever the checkout lives (CI's may sit under /root).
    script = shared_tmp_dir / "host-packages.sh"
    shutil.copy(SCRIPT, script)
    script.chmod(0o755)
    with unprivileged_user() as user:
        result = run_as(user, ["/usr/bin/bash", str(script), "test"], env={"PATH": str(bindir)})
    assert result.returncode == 1
    assert (
        "missing Debian packages: chromium curl docker-compose fonts-liberation iproute2 iptables"
        " nodejs npm"
        " openssl procps prometheus uidmap util-linux"
    ) in result.stderr
    assert "sudo apt-get install -y --no-install-recommends chromium" in result.stderr
