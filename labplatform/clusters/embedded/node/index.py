"""Services and Endpoints by namespace and name, as the node's watch hands them over.

The service proxy and the DNS server both answer from the same two kinds;
this is the part of them that only remembers.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def key(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


class ServiceIndex:
    def __init__(self) -> None:
        self._services: dict[tuple[str, str], Obj] = {}
        self._endpoints: dict[tuple[str, str], Obj] = {}

    def set_service(self, service: Obj) -> None:
        self._services[key(service)] = service

    def delete_service(self, namespace: str, name: str) -> None:
        self._services.pop((namespace, name), None)

    def set_endpoints(self, endpoints: Obj) -> None:
        self._endpoints[key(endpoints)] = endpoints

    def delete_endpoints(self, namespace: str, name: str) -> None:
        self._endpoints.pop((namespace, name), None)
