"""The kind backend's commands, configs and set-up, with Kubernetes for real and kind faked.

There is no Docker engine on this machine, so ``kind`` and ``docker`` are
FAKES here: small scripts on PATH that log their arguments, and whose
``kind create cluster`` hands over the kubeconfig of an embedded cluster
(without the mesh). Everything after that is real: kubectl, the mesh's
install from the same manifests, the toolbox pod, the course server's
token, and the learner's shell through ``kubectl exec``. The kind backend
has not been run end to end against a real kind here.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from labplatform.clusters.backend import ClusterError, run_script
from labplatform.clusters.embedded.manager import EmbeddedClusters
from labplatform.clusters.images import references
from labplatform.clusters.kind.backend import KindBackend, cluster_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

FAKE_KIND = """#!/bin/bash
# FAKE kind (no Docker engine here): logs its arguments; `create cluster` hands over
# $FAKE_KUBECONFIG and keeps --config; `get clusters` lists what was created.
echo "kind $*" >> "$FAKE_LOG"
case "$1 $2" in
  "create cluster")
    while [ $# -gt 0 ]; do
      case "$1" in --kubeconfig) cp "$FAKE_KUBECONFIG" "$2";; --config) cp "$2" "$FAKE_CONFIG";;
                   --name) echo "$2" >> "$FAKE_CLUSTERS";; esac; shift
    done;;
  "delete cluster") echo "Deleting cluster";;
  "get clusters") cat "$FAKE_CLUSTERS" 2>/dev/null;;
esac
"""
FAKE_DOCKER = """#!/bin/bash
# FAKE docker (no engine here): every node container is running.
echo "docker $*" >> "$FAKE_LOG"
[ "$1" = inspect ] && echo true
"""


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """PATH with the fake kind and docker first, an embedded cluster as the "kind" node."""
    root = tmp_path_factory.mktemp("kind")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name, text in (("kind", FAKE_KIND), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    clusters = EmbeddedClusters(root / "embedded")
    clusters.create("kindnode", lambda _: None, memory_mb=1536)
    saved = dict(os.environ)
    os.environ.update(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        FAKE_LOG=str(root / "log"),
        FAKE_CONFIG=str(root / "config.yaml"),
        FAKE_CLUSTERS=str(root / "clusters"),
        FAKE_KUBECONFIG=str(clusters.kubeconfig("kindnode")),
    )
    try:
        yield root
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clusters.delete("kindnode")


def test_the_cluster_config_is_one_small_node_named_for_the_session() -> None:
    config = cluster_config("lp-0a1b")
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    (node,) = config["nodes"]
    assert node["role"] == "control-plane"
    assert node["labels"] == {"labplatform.io/session": "lp-0a1b"}
    kubelet = yaml.safe_load(node["kubeadmConfigPatches"][0])
    assert kubelet["kind"] == "KubeletConfiguration"
    assert kubelet["evictionHard"]["nodefs.available"] == "1%"
    assert config["networking"] == {"apiServerAddress": "127.0.0.1", "apiServerPort": 0}


def test_a_session_cluster_is_created_loaded_meshed_and_deleted(
    fakes: Path, tmp_path: Path
) -> None:
    backend = KindBackend(tmp_path)
    steps: list[str] = []
    backend.create("lp-kind", steps.append)
    log = (fakes / "log").read_text().splitlines()
    assert log[0].startswith("kind create cluster --name lp-kind --config ")
    assert "--wait 120s" in log[0]
    loaded = [line.split()[-1] for line in log if line.startswith("kind load docker-image")]
    assert loaded == references()  # every image, in order, into this cluster
    assert all("--name lp-kind" in line for line in log if "load docker-image" in line)
    assert yaml.safe_load((fakes / "config.yaml").read_text()) == cluster_config("lp-kind")
    assert any("installing the service mesh" in s for s in steps)
    assert steps[-1] == "starting the learner's toolbox pod"

    assert backend.names() == {"lp-kind"} and backend.running("lp-kind")
    access = backend.api("lp-kind")
    assert access.token and access.ca_file.read_text().startswith("-----BEGIN CERTIFICATE")
    done = run_script(
        backend,
        "lp-kind",
        "kubectl get deployments -n istio-system -o json; kubectl auth can-i '*' '*' -A",
        60,
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    ready = {d["metadata"]["name"]: d["status"].get("availableReplicas") for d in listed["items"]}
    assert ready == {"istio-citadel": 1, "istio-ingressgateway": 1, "istio-mixer": 1, "istiod": 1}
    assert done.stdout.strip().endswith("yes")  # the learner owns the whole cluster
    shell = backend.shell_command("lp-kind")
    assert shell[:2] == ["kubectl", "--kubeconfig"] and "-t" in shell and "toolbox" in shell

    backend.delete("lp-kind")
    assert (fakes / "log").read_text().splitlines()[-1] == "kind delete cluster --name lp-kind"
    assert backend.names() == set()


def test_a_missing_kind_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no kind on it
    backend = KindBackend(tmp_path / "data")
    with pytest.raises(ClusterError, match=r"kind is not installed \(see `labplatform doctor`\)"):
        backend.create("lp-none", lambda _: None)
    assert backend.names() == set()  # nothing half-made is left to reap
