"""Clusters from the CLI, and what survives a killed API server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.apiserver.conftest import LiveCluster
from tests.helpers import VENV_BIN

LABPLATFORM = str(VENV_BIN / "labplatform")


def test_acknowledged_writes_survive_sigkill(cluster: LiveCluster) -> None:
    core = k8s.CoreV1Api(cluster.api_client)
    for i in range(100):
        last = core.create_namespaced_config_map(
            "default", {"metadata": {"name": f"cm-{i:03d}"}, "data": {"i": str(i)}}
        )
    os.killpg(cluster.info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while cluster.clusters.running(cluster.info) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(info.name, running) for info, running in cluster.clusters.list()] == [
        (cluster.info.name, False)
    ]
    cluster.info = cluster.clusters.start(cluster.info.name)
    with k8s_config.new_client_from_config(config_file=str(cluster.kubeconfig)) as api_client:
        names = {
            c.metadata.name
            for c in k8s.CoreV1Api(api_client).list_namespaced_config_map("default").items
        }
        assert {f"cm-{i:03d}" for i in range(100)} <= names
        again = k8s.CoreV1Api(api_client).read_namespaced_config_map("cm-099", "default")
        assert again.metadata.resource_version == last.metadata.resource_version


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABPLATFORM_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [LABPLATFORM, "cluster", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_cli_create_list_kubeconfig_delete(tmp_path: Path) -> None:
    created = run_cli(tmp_path, "create", "lab-a")
    assert created.returncode == 0, created.stderr
    assert "API server ready in" in created.stderr  # progress is shown
    kubeconfig = run_cli(tmp_path, "kubeconfig", "lab-a").stdout.strip()
    assert Path(kubeconfig).is_file()
    assert "insecure-skip-tls-verify" not in Path(kubeconfig).read_text()
    assert Path(kubeconfig).stat().st_mode & 0o777 == 0o600
    listing = run_cli(tmp_path, "list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "STATE", "SERVER", "CREATED"]
    assert listing[1].split()[:2] == ["lab-a", "running"]
    duplicate = run_cli(tmp_path, "create", "lab-a")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    bad = run_cli(tmp_path, "create", "Lab_A")
    assert bad.returncode == 1 and "invalid cluster name 'Lab_A'" in bad.stderr
    deleted = run_cli(tmp_path, "delete", "lab-a")
    assert deleted.returncode == 0
    assert not (tmp_path / "clusters" / "lab-a").exists()
    missing = run_cli(tmp_path, "kubeconfig", "lab-a")
    assert missing.returncode == 1 and "no cluster named 'lab-a'" in missing.stderr
