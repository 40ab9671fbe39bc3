"""Run mixer: ``python -m mesh_runtime.mixer`` (the ``labplatform/mixer`` image).

It keeps the cluster's pods (to name the workloads behind addresses) and
PolicyRules in view (list, then watch), takes reports and policy checks on
9091, spans on 9411, and serves metrics and the service graph on 42422.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import threading
from typing import Any

import uvicorn
from kubernetes import client as k8s

from labkit.logs import configure_logging
from labkit.serving import SecondaryServer
from mesh_runtime import kube
from mesh_runtime.mixer.policy import GROUP, PLURAL, VERSION
from mesh_runtime.mixer.reports import Inventory
from mesh_runtime.mixer.server import Mixer, serve_grpc

log = logging.getLogger("mesh_runtime.mixer")
Obj = dict[str, Any]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", help="outside a cluster: the kubeconfig to use")
    parser.add_argument("--grpc-address", default="0.0.0.0:9091")
    parser.add_argument("--http-host", default="0.0.0.0")
    parser.add_argument("--http-port", type=int, default=42422)
    parser.add_argument("--zipkin-port", type=int, default=9411, help="the Zipkin v2 API")
    parser.add_argument("--graph-window", type=float, default=60.0, help="seconds of history")
    parser.add_argument("--log-format", choices=("json", "kv"), default="json")
    args = parser.parse_args()
    configure_logging(args.log_format, "INFO")
    inventory = Inventory()
    api = kube.api_client(args.kubeconfig)
    stop = threading.Event()
    mixer = Mixer(inventory, args.graph_window)
    core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
    watches = (
        (core.list_pod_for_all_namespaces, inventory.set_pod, inventory.delete_pod),
        (functools.partial(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL),
         mixer.policy.set_rule, mixer.policy.delete_rule),
    )  # fmt: skip
    for lister, on_set, on_delete in watches:
        threading.Thread(
            target=kube.watch, args=(lister, on_set, on_delete, stop), daemon=True
        ).start()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(mixer, args.grpc_address, args.http_host, args.http_port,
                        args.zipkin_port))  # fmt: skip
    stop.set()
    api.close()


async def run(mixer: Mixer, grpc_address: str, host: str, port: int, zipkin_port: int) -> None:
    grpc_server = await serve_grpc(mixer, grpc_address)
    http = uvicorn.Server(uvicorn.Config(mixer.http_app(), host=host, port=port,
                                         log_config=None, access_log=False))  # fmt: skip
    zipkin = SecondaryServer(uvicorn.Config(mixer.traces.app(), host=host, port=zipkin_port,
                                       log_config=None, access_log=False))  # fmt: skip
    spans = asyncio.create_task(zipkin.serve())
    try:
        await http.serve()
    finally:
        zipkin.should_exit = True
        await spans
        await grpc_server.stop(grace=1)


if __name__ == "__main__":
    main()
