"""Files that carry a cluster's secrets: kubeconfigs and tokens, private from the first byte.

Every backend writes them (the embedded cluster's admin kubeconfig, a kubernetes
session's learner kubeconfig, a kind cluster's course-server token); all go
through :func:`write_private`, so none is ever readable by others, not even
for the moment between writing and a chmod.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with a file only its owner can read.

    The file is 0600 before any secret is written to it, and a crash leaves either
    the old file or the new one, never half of one.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def write_kubeconfig(
    path: Path,
    cluster_name: str,
    server_url: str,
    ca_pem: bytes,
    token: str,
    namespace: str = "default",
    user: str = "",
) -> None:
    """A kubeconfig (0600) that trusts ``ca_pem`` alone and carries ``token``."""
    user = user or f"{cluster_name}-admin"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": cluster_name,
                "context": {"cluster": cluster_name, "user": user, "namespace": namespace},
            }
        ],
        "current-context": cluster_name,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
