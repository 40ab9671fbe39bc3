"""Run a cluster inside its sandbox: ``python -m labplatform.clusters.embedded.node``.

One process per cluster, PID 1's only child in the sandbox (see
:mod:`.sandbox`): the API server with its controllers, the kubelet, the
service proxy and the DNS server share one event loop, so the node is a
single process to watch and the kubelet reads the store without a network
hop. The API server listens on a unix socket in the cluster's directory
(the host's way in) and on the bridge address (the pods' and the cluster
shell's way in).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from pathlib import Path

import uvicorn

from labkit.logs import configure_logging
from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.bootstrap import bootstrap
from labplatform.clusters.embedded.apiserver.controllers import ALL_CONTROLLERS
from labplatform.clusters.embedded.apiserver.registry import Registry
from labplatform.clusters.embedded.apiserver.server import ApiServer
from labplatform.clusters.embedded.apiserver.store import Store
from labplatform.clusters.embedded.apiserver.tokens import TokenIssuer
from labplatform.clusters.embedded.node import network
from labplatform.clusters.embedded.node.cluster_services import ClusterServices, system_objects
from labplatform.clusters.embedded.node.kubelet import NodeContext, kubelet
from labplatform.clusters.embedded.node.runtime import EmbeddedNode
from labplatform.clusters.embedded.pki import ClusterCredentials
from labplatform.clusters.kubeconfig import write_kubeconfig

log = logging.getLogger("labplatform.node")

API_SOCKET = "api.sock"
API_PORT = 6443
NODE_KUBECONFIG = "kubeconfig-node"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cluster-dir", type=Path, required=True)
    parser.add_argument("--name", required=True, help="the cluster's (and its node's) name")
    parser.add_argument("--log-format", choices=("json", "kv"), default="json")
    args = parser.parse_args()
    configure_logging(args.log_format, "INFO")
    asyncio.run(serve(args.cluster_dir, args.name))


async def serve(directory: Path, name: str) -> None:
    await network.set_up_node()
    credentials = ClusterCredentials.load_or_create(
        directory / "pki", extra_ips=[network.GATEWAY, "10.96.0.1"]
    )
    inside = f"https://{network.GATEWAY}:{API_PORT}"
    write_kubeconfig(
        directory / NODE_KUBECONFIG, name, inside, credentials.ca_pem, credentials.token
    )
    store = Store(directory / "store.db")
    services = ClusterServices()
    try:
        api = Api(
            store,
            Registry(),
            root_ca=credentials.ca_pem.decode(),
            service_url=lambda *where: _service_url(store, *where),
        )
        await bootstrap(api)
        await system_objects(api, name, network.GATEWAY, API_PORT)
        tokens = TokenIssuer(directory / "pki" / "service-account.key")
        context = NodeContext(api, tokens, name, directory / "pods",
                              network_ready=services.ready)  # fmt: skip
        server = ApiServer(
            api,
            credentials.token,
            tokens,
            server_address=f"{network.GATEWAY}:{API_PORT}",
            controllers=(*ALL_CONTROLLERS, kubelet(context), services.controller()),
            node=EmbeddedNode(context),
        )
        await services.start()
        config = server.uvicorn_config(
            network.GATEWAY, API_PORT, credentials.server_cert_path, credentials.server_key_path
        )
        listeners = [_unix_listener(directory / API_SOCKET), _tcp_listener(API_PORT)]
        log.info("node starting", extra={"cluster": name, "api": f"{network.GATEWAY}:{API_PORT}"})
        await uvicorn.Server(config).serve(sockets=listeners)
        log.info("stopping pods", extra={"pods": len(context.workers)})
        workers = list(context.workers.values())
        for worker in workers:
            worker.task.cancel()
        await asyncio.gather(*(w.task for w in workers), return_exceptions=True)
    finally:
        await services.stop()
        store.close()
        log.info("node stopped")


def _service_url(store: Store, namespace: str, name: str, port: int, path: str) -> str:
    """A webhook Service reached at its cluster IP (the node has no cluster DNS of its own);
    the certificate is still checked for ``<name>.<namespace>.svc``."""
    service = store.get("/services", namespace, name)
    address = (service or {}).get("spec", {}).get("clusterIP") or f"{name}.{namespace}.svc"
    return f"https://{address}:{port}{path}"


def _unix_listener(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o600)
    return sock


def _tcp_listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((network.GATEWAY, port))
    return sock


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
