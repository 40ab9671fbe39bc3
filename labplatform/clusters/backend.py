"""The one interface the course server uses to reach learners' clusters.

A backend owns clusters by name. The course server asks it for a cluster,
for a shell inside it (the learner's terminal), for the address and
credentials of its Kubernetes API (the grader and the app tabs go through
that API, as a learner's kubectl does), and to delete it. Nothing else of a
backend's insides leaks into the course server, so the embedded, kind and
kubernetes backends are interchangeable.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

Progress = Callable[[str], None]


def shell_prompt(name: str) -> dict[str, str]:
    """The environment that gives a learner's bash its prompt, with shell-integration marks.

    Each prompt carries an OSC 133 mark, as terminals with shell integration
    expect: ``D;<status>`` when a command has finished, ``A`` before the main
    prompt and ``A;k=s`` before a continuation prompt. Every line bash reads
    is followed by exactly one of the two prompts, so the browser knows when
    the lines a click-to-run block typed have all run, and with what status.

    Output that ends without a newline (``curl`` of a JSON body) would run
    into the prompt; a dim ``%`` then a line's width of spaces moves the
    prompt to a line of its own, and is overwritten when there was no need
    (zsh's PROMPT_SP).
    """
    return {
        "PS1": rf"\[\e]133;A\a\]{name}$ ",
        "PS2": r"\[\e]133;A;k=s\a\]> ",
        "PROMPT_COMMAND": (
            r"printf '\e]133;D;%s\a' $?; printf '\e[2m%%\e[0m%*s\r' $((${COLUMNS:-80}-1)) ''"
        ),
    }


class ClusterError(RuntimeError):
    """A cluster operation failed; the message says what to do."""


@dataclass(frozen=True)
class ApiAccess:
    """How to talk to one cluster's Kubernetes API."""

    server: str  # https://host:port
    ca_file: Path
    token: str
    kubeconfig: Path

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ClusterBackend(Protocol):
    """Where learners' clusters run. Every method may block: call it from a thread."""

    kind: str

    def create(self, name: str, progress: Progress) -> None:
        """Create cluster ``name`` with the mesh installed, and return once it is ready."""

    def delete(self, name: str) -> None:
        """Delete cluster ``name`` and everything it made; a missing one is not an error."""

    def names(self) -> set[str]:
        """Every cluster this backend holds, running or not (to find orphans)."""

    def running(self, name: str) -> bool:
        """Whether cluster ``name`` is up and can take a shell and API calls."""

    def api(self, name: str) -> ApiAccess:
        """The address and credentials of the cluster's Kubernetes API."""

    def shell_command(self, name: str, command: Sequence[str] = ()) -> list[str]:
        """The host argv of a login shell in the cluster (``command`` instead, if given)."""


def run_script(
    backend: ClusterBackend, name: str, script: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a bash script where the learner's shell runs, capturing its output."""
    return subprocess.run(
        list(backend.shell_command(name, ["bash", "-c", script])),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
