"""Making a fresh cluster into a lab's starting point: its files, then its set-up scripts.

Shared by a learner's session (before they get a shell) and ``course
play`` (before the first step), so a lab plays in CI exactly as it starts
for a learner.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
import textwrap

from labplatform.clusters.backend import ClusterBackend, Progress, run_script
from labplatform.courses.model import Asset, Lab

SETUP_TIMEOUT = 300.0


class SetupError(RuntimeError):
    """A set-up script failed; the message carries its last lines of output."""


def prepare(backend: ClusterBackend, cluster: str, lab: Lab, progress: Progress) -> None:
    """Copy the lab's assets into ``cluster`` and run its set-up scripts, in order."""
    if lab.assets:
        progress(f"copying {len(lab.assets)} course file(s) into the cluster")
        _run(backend, cluster, "assets", assets_script(lab.assets))
    for script in lab.setup:
        progress(f"running the lab's set-up: {script.name}")
        _run(backend, cluster, script.name, script.read_text())


def _run(backend: ClusterBackend, cluster: str, name: str, text: str) -> None:
    try:
        result = run_script(backend, cluster, text, SETUP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SetupError(f"set-up script {name} ran over {SETUP_TIMEOUT:.0f} s") from None
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise SetupError(
            f"set-up script {name} exited with {result.returncode}: " + " / ".join(tail)
        )


def assets_script(assets: list[Asset]) -> str:
    """A bash script that writes each asset where it belongs (base64: any bytes survive)."""
    lines = ["set -e"]
    for asset in assets:
        target = shlex.quote(f"{asset.target.rstrip('/')}/{asset.source.name}")
        data = base64.b64encode(asset.source.read_bytes()).decode()
        lines += [
            f"mkdir -p {shlex.quote(asset.target)}",
            f"base64 -d > {target} <<'ASSET'",
            *textwrap.wrap(data, 76),
            "ASSET",
        ]
        if asset.chmod:
            lines.append(f"chmod {shlex.quote(asset.chmod)} {target}")
    return "\n".join(lines) + "\n"
