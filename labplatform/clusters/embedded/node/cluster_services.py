"""What makes Services work inside the node: kube-proxy's rules and the cluster DNS.

Both follow the store's Services, Endpoints and Pods through one watch, in
the node process, as kube-proxy and CoreDNS follow them through the API.
The DNS server listens on the bridge address and is published, as on any
cluster, as the ``kube-dns`` Service in ``kube-system`` at
:data:`~.network.DNS_SERVICE_IP`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import uuid
from pathlib import Path
from typing import Any

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import write_status
from labplatform.clusters.embedded.apiserver.server import Controller
from labplatform.clusters.embedded.apiserver.store import Change
from labplatform.clusters.embedded.node import network
from labplatform.clusters.embedded.node.dns import ClusterDns, ClusterRecords
from labplatform.clusters.embedded.node.services import ServiceProxy

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WATCHED = frozenset({"/services", "/endpoints", "/pods"})


class ClusterServices:
    """The service proxy and the DNS server, kept in step with the store."""

    def __init__(self) -> None:
        self.records = ClusterRecords(network.CLUSTER_DOMAIN)
        self.dns = ClusterDns(self.records)
        self.proxy = ServiceProxy()
        # Set once the first rules are in (the DNS is started before the controllers run).
        self.ready = asyncio.Event()

    async def start(self) -> None:
        await self.dns.start(network.GATEWAY, 53)

    async def stop(self) -> None:
        await self.dns.stop()

    def controller(self) -> Controller:
        async def service_proxy(api: Api) -> None:
            watcher = api.store.watch(lambda change: change.key in WATCHED)
            try:
                for key in WATCHED:
                    for obj in api.store.objects(key):
                        self._apply(key, obj, deleted=False)
                await self.proxy.sync()
                self.ready.set()
                while True:
                    change = await watcher.queue.get()
                    if change is None:  # fell behind: start over with a full listing
                        raise RuntimeError("service watch overflowed")
                    self._take(change)
                    while not watcher.queue.empty():
                        if (change := watcher.queue.get_nowait()) is None:
                            raise RuntimeError("service watch overflowed")
                        self._take(change)
                    await self.proxy.sync()
            finally:
                watcher.close()

        return service_proxy

    def _take(self, change: Change) -> None:
        self._apply(change.key, change.obj, deleted=change.type == "DELETED")

    def _apply(self, key: str, obj: Obj, deleted: bool) -> None:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        if key == "/services":
            targets = (self.records, self.proxy)
            for target in targets:
                if deleted:
                    target.delete_service(namespace, name)
                else:
                    target.set_service(obj)
        elif key == "/endpoints":
            for target in (self.records, self.proxy):
                if deleted:
                    target.delete_endpoints(namespace, name)
                else:
                    target.set_endpoints(obj)
        elif deleted:
            self.records.delete_pod(namespace, name)
        else:
            self.records.set_pod(obj)


async def system_objects(api: Api, node_name: str, address: str, api_port: int) -> None:
    """The Node, the API server's own Endpoints, and the ``kube-dns`` Service: what a kubelet,
    an API server and a DNS add-on publish on a real cluster."""
    registry = api.registry
    nodes = registry.by_key("/nodes")
    node = api.store.get("/nodes", "", node_name)
    if node is None:
        node = await api.create(nodes, "", _node(node_name))
    await write_status(api, "/nodes", node, _node_status(node_name, address))
    await _put(
        api,
        "/endpoints",
        "default",
        _endpoints("kubernetes", "default", address, api_port, "https"),
    )
    services = registry.by_key("/services")
    if api.store.get("/services", "kube-system", "kube-dns") is None:
        labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
        await api.create(services, "kube-system", {
            "metadata": {"name": "kube-dns", "labels": labels},
            "spec": {
                "clusterIP": network.DNS_SERVICE_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        })  # fmt: skip
    dns = _endpoints("kube-dns", "kube-system", address, 53, "dns", "UDP")
    dns["subsets"][0]["ports"].append({"name": "dns-tcp", "port": 53, "protocol": "TCP"})
    await _put(api, "/endpoints", "kube-system", dns)


async def _put(api: Api, key: str, namespace: str, obj: Obj) -> None:
    rt = api.registry.by_key(key)
    live = api.store.get(key, namespace, obj["metadata"]["name"])
    if live is None:
        await api.create(rt, namespace, obj)
    elif live.get("subsets") != obj.get("subsets"):
        await api.update(
            rt, namespace, obj["metadata"]["name"], {**live, "subsets": obj["subsets"]}
        )


def _endpoints(
    name: str, namespace: str, ip: str, port: int, port_name: str, protocol: str = "TCP"
) -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "subsets": [
            {
                "addresses": [{"ip": ip}],
                "ports": [{"name": port_name, "port": port, "protocol": protocol}],
            }
        ],
    }


def _node(name: str) -> Obj:
    return {
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64"
                if platform.machine() == "x86_64"
                else platform.machine(),
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": str(network.POD_CIDR), "podCIDRs": [str(network.POD_CIDR)]},
    }


def _host_file(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _node_status(name: str, address: str) -> Obj:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024
    capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{memory}Ki", "pods": "110"}
    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            },
        ],
        "addresses": [
            {"type": "InternalIP", "address": address},
            {"type": "Hostname", "address": name},
        ],
        "nodeInfo": {
            # Every field a kubelet reports: typed clients (Python's) refuse a NodeSystemInfo
            # missing one. The machine is this host; the node's identity is its name's.
            "machineID": _host_file("/etc/machine-id"),
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.labplatform.local")),
            "bootID": _host_file("/proc/sys/kernel/random/boot_id"),
            "kubeProxyVersion": "",
            "kubeletVersion": "v1.37.0-labplatform",
            "containerRuntimeVersion": "labplatform://embedded",
            "operatingSystem": "linux",
            "architecture": platform.machine(),
            "kernelVersion": platform.release(),
            "osImage": "labplatform embedded node",
        },
    }
