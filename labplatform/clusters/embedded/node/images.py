"""The image catalog: what an image reference runs as in the embedded cluster.

The embedded cluster cannot pull images, so each reference it accepts is
mapped to a program on this machine, with the entrypoint and default
command the real image has (``kubectl run -it --image=busybox`` gives a
shell, ``curlimages/curl`` runs curl). The utility images run the host's
userland; the project's own images run its modules from the source tree
mounted in the sandbox. On kind the same names are real images, so every
entry here must behave like the image it names; an image missing from the
catalog fails to pull, as it would on a cluster with no registry access,
with a message listing what is available.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from labplatform.clusters.embedded.node.sandbox import (
    SOURCE_INSIDE,
    VENV_INSIDE,
    inside_environment,
)


@dataclass(frozen=True)
class Image:
    """What a container of this image runs when the pod does not say."""

    repository: str
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    description: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # tag -> environment that makes the program behave as that tag of the image
    # (``labplatform/sa-logic:v2``); an image with tags accepts no others.
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def image_id(self) -> str:
        return f"labplatform.local/{self.repository}@embedded"


_PYTHON_ENV = {"PYTHONUNBUFFERED": "1"}
# The project's images run its modules with the virtualenv's interpreter and packages.
_PROJECT = (f"{VENV_INSIDE}/bin/python", "-m")
_PROJECT_ENV = {**_PYTHON_ENV, "PYTHONPATH": str(SOURCE_INSIDE), "PYTHONDONTWRITEBYTECODE": "1"}


def _project(
    repository: str,
    module: str,
    description: str,
    command: tuple[str, ...] = (),
    tags: dict[str, dict[str, str]] | None = None,
) -> Image:
    """One of the project's own images: ``python -m module`` from the mounted source tree."""
    return Image(repository, entrypoint=(*_PROJECT, module), command=command,
                 description=description, env=_PROJECT_ENV, tags=tags or {})  # fmt: skip


_LOGIC_VERSIONS = {tag: {"SA_LOGIC_VERSION": tag} for tag in ("v1", "v2", "buggy")}

CATALOG: dict[str, Image] = {
    image.repository: image
    for image in (
        Image("busybox", command=("sh",), description="the host's shell and coreutils"),
        Image("alpine", command=("/bin/sh",), description="the host's shell and coreutils"),
        Image("debian", command=("bash",), description="the host's userland"),
        Image("ubuntu", command=("bash",), description="the host's userland"),
        Image(
            "curlimages/curl",
            entrypoint=("curl",),
            command=("--help",),
            description="curl from the host",
        ),
        Image("python", command=("python3",), description="the host's Python 3", env=_PYTHON_ENV),
        # the mesh
        _project("labplatform/pilot", "mesh_runtime.pilot",
                 "the mesh's control plane: Istio rules to Envoy configuration over ADS"),
        _project("labplatform/citadel", "mesh_runtime.citadel",
                 "the mesh's CA: workload certificates for SPIFFE identities"),
        _project("labplatform/mixer", "mesh_runtime.mixer",
                 "the mesh's telemetry: Istio's metrics and the service graph"),
        _project("labplatform/proxy", "mesh_runtime.agent",
                 "the sidecar: Envoy and its agent (`capture` sets up the pod's rules)",
                 command=("proxy",)),
        # the Sentiment Analysis app and the lab utilities (samples/)
        _project("labplatform/sa-frontend", "samples.sentiment.frontend",
                 "the sample app's web page"),
        _project("labplatform/sa-web-app", "samples.sentiment.web_app", "the sample app's API"),
        _project("labplatform/sa-logic", "samples.sentiment.logic",
                 "the sample app's sentiment model (tags v1, v2, buggy)", tags=_LOGIC_VERSIONS),
        _project("labplatform/sa-feedback", "samples.sentiment.feedback",
                 "the sample app's feedback store"),
        _project("labplatform/httpbin", "samples.utilities.httpbin",
                 "an httpbin-compatible service"),
        _project("labplatform/loadgen", "samples.utilities.loadgen",
                 "a load generator (like fortio, hey)", command=("--help",)),
        Image("labplatform/sleep", command=("sleep", "infinity"),
              description="a client to exec into: the host's shell, curl and openssl"),
        _project("labplatform/whoami", "labplatform.clusters.embedded.node.whoami",
                 "answers HTTP with the pod's name, address and the request"),
        Image("labplatform/toolbox", command=("sleep", "infinity"),
              description="a learner's terminal in a pod: kubectl, meshctl, curl, jq, openssl",
              env={"PATH": inside_environment()["PATH"]}),
    )
}  # fmt: skip


class ImageNotFoundError(LookupError):
    """The reference names no image of the catalog; the message lists what is."""


def repository_of(reference: str) -> str:
    """``docker.io/library/busybox:1.36`` -> ``busybox``; digests and tags are dropped."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def tag_of(reference: str) -> str:
    """``labplatform/sa-logic:v2`` -> ``v2`` ("" when untagged or pinned by digest)."""
    last = reference.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def resolve(reference: str) -> Image:
    repository = repository_of(reference)
    image = CATALOG.get(repository)
    if image is None:
        available = ", ".join(sorted(CATALOG))
        raise ImageNotFoundError(
            f'image "{reference}" is not in the embedded cluster\'s image catalog '
            f"(this cluster cannot pull images); available: {available}"
        )
    tag = tag_of(reference)
    if not image.tags or tag in ("", "latest"):
        return image
    if tag not in image.tags:
        raise ImageNotFoundError(
            f'image "{reference}": {repository} has the tags {", ".join(image.tags)}'
        )
    return replace(image, env={**image.env, **image.tags[tag]})
