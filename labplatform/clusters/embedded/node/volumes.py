"""A pod's volumes, written as directories under the pod's own directory.

emptyDir is a directory; configMap, secret, downwardAPI and projected
volumes are files written once when the pod starts (the service-account
token is minted then, bound to the pod, as the kubelet asks for it);
hostPath is the node's path (the host's, read-only, inside the sandbox).
Containers see them through bind mounts made in their own mount namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from labplatform.clusters.embedded.node.environment import Lookup, field_value

Obj = dict[str, Any]
MintToken = Callable[[Obj, Obj], str]  # (pod, serviceAccountToken source) -> token


class VolumeError(ValueError):
    """A volume cannot be made (FailedMount in Kubernetes); the message says why."""


def prepare_volumes(pod: Obj, pod_dir: Path, lookup: Lookup, mint: MintToken) -> dict[str, Path]:
    """Each volume's directory (or the node path of a hostPath), by volume name."""
    namespace = pod["metadata"].get("namespace", "default")
    paths: dict[str, Path] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        name = volume["name"]
        if "hostPath" in volume:
            paths[name] = Path(volume["hostPath"]["path"])
            continue
        target = pod_dir / "volumes" / name
        target.mkdir(parents=True, exist_ok=True)
        paths[name] = target
        if "emptyDir" in volume:
            target.chmod(0o777)
        elif (found := _object_source(volume)) is not None:
            kind, source = found
            mode = source.get("defaultMode", 0o644)
            _write_object(target, kind, source, namespace=namespace, lookup=lookup, mode=mode)
        elif "downwardAPI" in volume:
            _write_downward(target, pod, volume["downwardAPI"], 0o644)
        elif "projected" in volume:
            mode = volume["projected"].get("defaultMode", 0o644)
            for part in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in part:
                    token = part["serviceAccountToken"]
                    _write(target / token["path"], mint(pod, token).encode(), mode)
                elif (found := _object_source(part)) is not None:
                    _write_object(target, *found, namespace=namespace, lookup=lookup, mode=mode)
                elif "downwardAPI" in part:
                    _write_downward(target, pod, part["downwardAPI"], mode)
        else:
            kinds = ", ".join(k for k in volume if k != "name")
            raise VolumeError(
                f'volume "{name}": {kinds} volumes are not supported by the embedded cluster '
                "(emptyDir, configMap, secret, downwardAPI, projected and hostPath are)"
            )
    return paths


def _object_source(volume: Obj) -> tuple[str, Obj] | None:
    for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
        if field in volume:
            return kind, volume[field]
    return None


def _write_object(
    target: Path, kind: str, source: Obj, *, namespace: str, lookup: Lookup, mode: int
) -> None:
    name = source.get("name") or source.get("secretName", "")
    data = lookup.data(kind, namespace, name)
    if data is None:
        if source.get("optional"):
            return
        raise VolumeError(f'{kind.lower()} "{name}" not found')
    items = source.get("items")
    for item in items or [{"key": key, "path": key} for key in data]:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f'{kind.lower()} "{name}" has no key "{item["key"]}"')
        _write(target / item["path"], data[item["key"]], item.get("mode", mode))


def _write_downward(target: Path, pod: Obj, source: Obj, mode: int) -> None:
    for item in source.get("items") or []:
        if "fieldRef" in item:
            value = field_value(pod, item["fieldRef"]["fieldPath"])
            _write(target / item["path"], value.encode(), item.get("mode", mode))


def _write(path: Path, data: bytes, mode: int) -> None:
    if ".." in path.parts:
        raise VolumeError(f"volume path {path.name!r} must not contain '..'")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode & 0o777)
    tmp.replace(path)
