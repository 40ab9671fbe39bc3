"""A host user who is not root runs clusters too, in a rootless user namespace."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.conftest import KUBECTL
from tests.helpers import VENV_BIN, run_as, unprivileged_user

pytestmark = [pytest.mark.e2e, pytest.mark.root]

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=[True, False], ids=["with-subuids", "single-uid"])
def user(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """A throwaway user and a directory of its own (pytest's tmp_path is root's alone)."""
    with unprivileged_user(with_subuids=request.param) as name:
        readable = run_as(name, ["test", "-r", str(PROJECT / "labplatform" / "__init__.py")])
        if readable.returncode != 0:
            pytest.skip(f"{PROJECT} is not readable by other users (a clone under /root?)")
        home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        try:
            yield name, home
        finally:
            shutil.rmtree(home, ignore_errors=True)


def test_a_rootless_cluster_runs_pods_with_exec_and_logs(user: tuple[str, Path]) -> None:
    user_name, tmp_path = user
    env = {"LABPLATFORM_DATA_DIR": str(tmp_path / "data")}
    labplatform = [str(VENV_BIN / "labplatform")]
    created = run_as(user_name, [*labplatform, "cluster", "create", "mine"], env=env, timeout=90)
    try:
        assert created.returncode == 0, created.stdout + created.stderr
        kubeconfig = str(tmp_path / "data" / "clusters" / "mine" / "kubeconfig")
        kube_env = {**env, "KUBECONFIG": kubeconfig, "HOME": str(tmp_path)}

        def kubectl(*args: str) -> str:
            result = run_as(user_name, [KUBECTL, *args], env=kube_env, timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr
            return str(result.stdout)

        kubectl("run", "hello", "--image=busybox", "--", "sh", "-c", "echo hi; sleep 3600")
        kubectl("wait", "--for=condition=Ready", "pod/hello", "--timeout=60s")
        assert kubectl("logs", "hello") == "hi\n"
        assert kubectl("exec", "hello", "--", "id", "-u") == "0\n"
        pod = json.loads(kubectl("get", "pod", "hello", "-o", "json"))
        assert pod["status"]["podIP"].startswith("10.244.")
        processes = run_as(user_name, ["ps", "-o", "args=", "-u", user_name], timeout=10).stdout
        assert "sleep 3600" in processes  # the pod's root is the user on the host
    finally:
        run_as(user_name, [*labplatform, "cluster", "delete", "mine"], env=env, timeout=60)
