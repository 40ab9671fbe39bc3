"""The project's container images: what `make images` builds and the kind backend loads.

Every image is a stage of ``images/Dockerfile`` named after the image
(``labplatform/sa-logic`` is the stage ``sa-logic``); an image with tags is
built once per tag, with that tag's build arguments. The embedded cluster
runs the same programs from the source tree under the same names (its
catalog); a test keeps the two lists equal, so a lab that works on one
backend finds its images on the other.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DOCKERFILE = Path("images/Dockerfile")
PREFIX = "labplatform/"


@dataclass(frozen=True)
class ProjectImage:
    repository: str  # labplatform/NAME
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # tag -> build arguments

    @property
    def stage(self) -> str:
        return self.repository.removeprefix(PREFIX)

    @property
    def references(self) -> list[str]:
        """``labplatform/sa-logic:v1`` ... for a tagged image, ``labplatform/sleep`` otherwise."""
        return [f"{self.repository}:{tag}" for tag in self.tags] or [self.repository]

    def build_commands(self, root: Path) -> list[list[str]]:
        """The ``docker build`` command for each reference, run from the repository root."""
        base = ["docker", "build", "-f", str(root / DOCKERFILE), "--target", self.stage]
        if not self.tags:
            return [[*base, "-t", self.repository, str(root)]]
        return [
            [*base, *(f"--build-arg={k}={v}" for k, v in args.items()),
             "-t", f"{self.repository}:{tag}", str(root)]
            for tag, args in self.tags.items()
        ]  # fmt: skip


IMAGES: tuple[ProjectImage, ...] = (
    ProjectImage("labplatform/pilot"),
    ProjectImage("labplatform/citadel"),
    ProjectImage("labplatform/mixer"),
    ProjectImage("labplatform/proxy"),
    ProjectImage("labplatform/sa-frontend"),
    ProjectImage("labplatform/sa-web-app"),
    ProjectImage(
        "labplatform/sa-logic",
        {tag: {"VERSION": tag} for tag in ("v1", "v2", "buggy")},
    ),
    ProjectImage("labplatform/sa-feedback"),
    ProjectImage("labplatform/httpbin"),
    ProjectImage("labplatform/loadgen"),
    ProjectImage("labplatform/whoami"),
    ProjectImage("labplatform/sleep"),
    ProjectImage("labplatform/toolbox"),
)


def references() -> list[str]:
    """Every image reference the labs use, tags spelled out."""
    return [ref for image in IMAGES for ref in image.references]


class ImageBuildError(RuntimeError):
    """Docker is missing or a build failed; the message says which and how to go on."""


def build_all(root: Path, progress: Callable[[str], None]) -> None:
    """Build every image with the local Docker engine, one after another."""
    if shutil.which("docker") is None:
        raise ImageBuildError("docker is not installed: images need a Docker engine to build")
    engine = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                            capture_output=True, text=True, check=False)  # fmt: skip
    if engine.returncode != 0:
        raise ImageBuildError("the docker client found no engine: start Docker, then retry")
    commands = [command for image in IMAGES for command in image.build_commands(root)]
    for number, command in enumerate(commands, 1):
        reference = command[command.index("-t") + 1]
        progress(f"[{number}/{len(commands)}] {reference}")
        if subprocess.run(command, check=False).returncode != 0:
            raise ImageBuildError(f"building {reference} failed (above)")
