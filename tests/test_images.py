"""Container images: the build list, the Dockerfile, the embedded catalog and manifests agree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from labplatform.clusters.embedded.node.images import CATALOG
from labplatform.clusters.images import DOCKERFILE, IMAGES, PREFIX, references
from tests.helpers import REPO

STAGE = re.compile(r"^FROM \S+ AS (\S+)$", re.M)
TITLE = re.compile(r'^LABEL org\.opencontainers\.image\.title="([^"]+)"$', re.M)


def stages() -> dict[str, str]:
    """Each stage of images/Dockerfile and the image title it declares."""
    text = (REPO / DOCKERFILE).read_text()
    found = {}
    bodies = STAGE.split(text)[1:]
    for name, body in zip(bodies[::2], bodies[1::2], strict=True):
        title = TITLE.search(body)
        found[name] = title.group(1) if title else ""
    return found


def test_the_images_we_build_are_the_images_the_embedded_cluster_runs() -> None:
    ours = {image.repository: sorted(image.tags) for image in IMAGES}
    embedded = {name: sorted(image.tags) for name, image in CATALOG.items()
                if name.startswith(PREFIX)}  # fmt: skip
    assert ours == embedded


def test_every_image_is_a_stage_of_the_dockerfile_named_for_it() -> None:
    declared = stages()
    for image in IMAGES:
        assert declared.get(image.stage) == image.repository, image.stage
    assert set(declared) - {image.stage for image in IMAGES} == {"project"}  # the shared base


def test_build_commands_spell_out_each_tag() -> None:
    (logic,) = [image for image in IMAGES if image.repository == "labplatform/sa-logic"]
    commands = logic.build_commands(Path("/src"))
    assert [c[c.index("-t") + 1] for c in commands] == [
        "labplatform/sa-logic:v1", "labplatform/sa-logic:v2", "labplatform/sa-logic:buggy",
    ]  # fmt: skip
    assert commands[1][:6] == [
        "docker", "build", "-f", "/src/images/Dockerfile", "--target", "sa-logic",
    ]  # fmt: skip
    assert "--build-arg=VERSION=v2" in commands[1] and commands[1][-1] == "/src"
    assert "labplatform/sleep" in references() and "labplatform/sa-logic:buggy" in references()


def manifest_containers() -> list[tuple[str, dict[str, object]]]:
    files = [REPO / "mesh_runtime/manifests/istio-system.yaml",
             *sorted((REPO / "samples").rglob("*.yaml"))]  # fmt: skip
    found = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            spec = ((doc or {}).get("spec") or {}).get("template", {}).get("spec", {})
            for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
                found.append((f"{path.relative_to(REPO)}:{container['name']}", container))
    return found


def test_manifests_run_only_images_we_build_and_never_pull_them() -> None:
    """kind loads our images into its nodes; no registry has them to pull."""
    containers = manifest_containers()
    assert len(containers) >= 10
    known = set(references())
    for where, container in containers:
        image = str(container["image"])
        assert image in known or f"{image}:latest" in known, where
        assert container.get("imagePullPolicy") == "IfNotPresent", where


def docker_engine() -> bool:
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0


@pytest.mark.e2e
@pytest.mark.skipif(not docker_engine(), reason="no Docker engine on this machine")
def test_every_image_builds() -> None:
    """Where Docker runs: `labplatform images build` builds every image."""
    built = subprocess.run([str(REPO / ".venv/bin/labplatform"), "images", "build"],
                           capture_output=True, text=True, timeout=3600, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
