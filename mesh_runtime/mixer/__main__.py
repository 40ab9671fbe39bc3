"""Run mixer: ``python -m mesh_runtime.mixer`` (the ``labplatform/mixer`` image).

It keeps the cluster's pods in view (list, then watch) to name the
workloads behind addresses, takes reports on 9091 and serves metrics and the
service graph on 42422.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import threading
import time

import uvicorn
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from labkit.logs import configure_logging
from labkit.serving import SecondaryServer
from mesh_runtime import kube
from mesh_runtime.mixer.reports import Inventory
from mesh_runtime.mixer.server import Mixer, serve_grpc

log = logging.getLogger("mesh_runtime.mixer")


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
    threading.Thread(target=watch_pods, args=(api, inventory, stop), daemon=True).start()
    mixer = Mixer(inventory, args.graph_window)
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


def watch_pods(api: k8s.ApiClient, inventory: Inventory, stop: threading.Event) -> None:
    core = k8s.CoreV1Api(api)
    while not stop.is_set():
        try:
            listing = core.list_pod_for_all_namespaces(_preload_content=False)
            body = json.loads(listing.data)
            for pod in body.get("items") or []:
                inventory.set_pod(pod)
            version = body["metadata"]["resourceVersion"]
            stream = k8s_watch.Watch().stream(
                core.list_pod_for_all_namespaces, resource_version=version, timeout_seconds=300
            )
            for event in stream:
                pod = event["raw_object"]
                (inventory.delete_pod if event["type"] == "DELETED" else inventory.set_pod)(pod)
        except Exception as error:  # any failure (API away, watch expired): list again shortly
            log.warning("watching pods failed; retrying", extra={"error": str(error)})
            time.sleep(1.0)


if __name__ == "__main__":
    main()
