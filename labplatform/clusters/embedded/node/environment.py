"""A container's environment, as the kubelet composes it.

In order: the image's variables, the service variables of every Service in
the pod's namespace (``enableServiceLinks``, plus ``KUBERNETES_*`` always),
``envFrom``, then ``env`` with ``$(VAR)`` references expanded against what
came before, and the downward API's ``fieldRef`` values.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from typing import Any

Obj = dict[str, Any]

_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class ContainerConfigError(ValueError):
    """A variable refers to something missing (CreateContainerConfigError in Kubernetes)."""


def expand(text: str, values: dict[str, str]) -> str:
    """``$(VAR)`` becomes its value when defined and stays as written otherwise; ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return values.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def service_variables(services: Iterable[Obj]) -> dict[str, str]:
    """Docker-link style variables for each Service with a cluster IP."""
    variables: dict[str, str] = {}
    for service in services:
        spec = service.get("spec", {})
        ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        first = ports[0]
        variables[f"{prefix}_SERVICE_HOST"] = ip
        variables[f"{prefix}_SERVICE_PORT"] = str(first["port"])
        variables[f"{prefix}_PORT"] = (
            f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        )
        for port in ports:
            protocol = port.get("protocol", "TCP")
            if port.get("name"):
                name = port["name"].upper().replace("-", "_")
                variables[f"{prefix}_SERVICE_PORT_{name}"] = str(port["port"])
            link = f"{prefix}_PORT_{port['port']}_{protocol}"
            variables[link] = f"{protocol.lower()}://{ip}:{port['port']}"
            variables[f"{link}_PROTO"] = protocol.lower()
            variables[f"{link}_PORT"] = str(port["port"])
            variables[f"{link}_ADDR"] = ip
    return variables


def _is_master(service: Obj) -> bool:
    meta = service["metadata"]
    return bool(meta.get("name") == "kubernetes" and meta.get("namespace") == "default")


def field_value(pod: Obj, path: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs", [])),
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{key}="{value}"' for key, value in items)
    raise ContainerConfigError(f"unsupported fieldPath {path!r}")


def object_data(obj: Obj, kind: str) -> dict[str, bytes]:
    """A ConfigMap's or Secret's keys and their bytes, base64 already undone."""
    encoded = obj.get("data", {}) if kind == "Secret" else obj.get("binaryData", {})
    plain = obj.get("stringData", {}) if kind == "Secret" else obj.get("data", {})
    return {
        **{key: str(value).encode() for key, value in plain.items()},
        **{key: base64.b64decode(value) for key, value in encoded.items()},
    }


class Lookup:
    """Where the kubelet reads ConfigMaps and Secrets from (the store, in process)."""

    def __init__(self, get: Callable[[str, str, str], Obj | None]) -> None:
        self._get = get  # the store's get(key, namespace, name)

    def data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self._get("/secrets" if kind == "Secret" else "/configmaps", namespace, name)
        return None if obj is None else object_data(obj, kind)

    def values(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        data = self.data(kind, namespace, name)
        return None if data is None else {k: v.decode(errors="replace") for k, v in data.items()}


def container_environment(
    pod: Obj,
    container: Obj,
    image_env: dict[str, str],
    services: Iterable[Obj],
    lookup: Lookup,
) -> dict[str, str]:
    namespace = pod["metadata"].get("namespace", "default")
    result: dict[str, str] = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": pod["metadata"]["name"],
        **image_env,
    }
    links = list(services)
    if pod.get("spec", {}).get("enableServiceLinks", True) is False:
        links = [s for s in links if _is_master(s)]
    result.update(service_variables(links))
    for source in container.get("envFrom") or []:
        for kind, ref_key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(ref_key)
            if ref is None:
                continue
            values = lookup.values(kind, namespace, ref["name"])
            if values is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'{kind.lower()} "{ref["name"]}" not found')
            prefix = source.get("prefix", "")
            result.update({prefix + k: v for k, v in values.items()})
    for variable in container.get("env") or []:
        name = variable["name"]
        if "value" in variable or "valueFrom" not in variable:
            result[name] = expand(variable.get("value", ""), result)
            continue
        value_from = variable["valueFrom"]
        if "fieldRef" in value_from:
            result[name] = field_value(pod, value_from["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in value_from:
            result[name] = _resource(container, value_from["resourceFieldRef"])
        else:
            for kind, ref_key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                ref = value_from.get(ref_key)
                if ref is None:
                    continue
                values = lookup.values(kind, namespace, ref["name"])
                if values is None or ref["key"] not in values:
                    if ref.get("optional"):
                        break
                    what = f'{kind.lower()} "{ref["name"]}"'
                    missing = what if values is None else f'key "{ref["key"]}" in {what}'
                    raise ContainerConfigError(f"couldn't find {missing} for variable {name}")
                result[name] = values[ref["key"]]
    return result


def _resource(container: Obj, ref: Obj) -> str:
    """Limits and requests as written; the embedded node has no capacity to default them to."""
    kind, _, resource = ref["resource"].partition(".")
    value = (container.get("resources", {}).get(kind) or {}).get(resource)
    return str(value) if value is not None else "0"
