"""Run pilot: ``python -m mesh_runtime.pilot`` (the ``labplatform/pilot`` image).

It watches the cluster through the Kubernetes API (in-cluster credentials,
or ``--kubeconfig``), serves ADS to the proxies, and answers on its debug
port like istiod: ``/ready`` once every kind has been listed,
``/debug/syncz`` (each proxy's SYNCED/STALE/NACK per type),
``/debug/configz`` (the rules it translates) and
``/debug/config_dump?proxy=ID`` (what it serves that proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path

import uvicorn
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from labkit.logs import configure_logging
from labkit.serving import SecondaryServer
from mesh_runtime import kube
from mesh_runtime.pilot import ads, webhooks
from mesh_runtime.pilot.model import MeshModel
from mesh_runtime.pilot.snapshot import build_snapshot
from mesh_runtime.pilot.watch import KINDS, Watcher

log = logging.getLogger("mesh_runtime.pilot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", help="outside a cluster: the kubeconfig to use")
    parser.add_argument("--xds-address", default="0.0.0.0:15010", help="HOST:PORT or unix:PATH")
    parser.add_argument("--debug-host", default="0.0.0.0")
    parser.add_argument("--debug-port", type=int, default=15014)
    parser.add_argument(
        "--webhook-port",
        type=int,
        default=0,
        help="serve sidecar injection and config validation here (istiod: 15017)",
    )
    parser.add_argument("--pilot-address", default="istiod.istio-system.svc:15010",
                        help="where injected proxies find pilot")  # fmt: skip
    parser.add_argument("--log-format", choices=("json", "kv"), default="json")
    args = parser.parse_args()
    configure_logging(args.log_format, "INFO")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run(
                args.kubeconfig,
                args.xds_address,
                args.debug_host,
                args.debug_port,
                args.webhook_port,
                args.pilot_address,
            )
        )


async def run(
    kubeconfig: str | None,
    xds_address: str,
    debug_host: str,
    debug_port: int,
    webhook_port: int = 0,
    pilot_address: str = "",
) -> None:
    if kubeconfig:
        api_client = k8s_config.new_client_from_config(config_file=kubeconfig)
    else:
        k8s_config.load_incluster_config()
        api_client = k8s.ApiClient()
    model = MeshModel()
    server = ads.AdsServer(lambda proxy: build_snapshot(model, proxy))
    grpc_server = await ads.serve(server, xds_address)
    watcher = Watcher(api_client, model, asyncio.get_running_loop(), server.push)
    watcher.start()
    debug = uvicorn.Server(
        uvicorn.Config(
            debug_app(model, server, watcher),
            host=debug_host,
            port=debug_port,
            log_config=None,
            access_log=False,
        )
    )
    admission = await _start_webhooks(api_client, webhook_port, pilot_address)
    try:
        await debug.serve()
    finally:
        if admission is not None:
            admission.should_exit = True
        watcher.stop()
        await grpc_server.stop(grace=2)
        api_client.close()


async def _start_webhooks(
    api_client: k8s.ApiClient, port: int, pilot_address: str
) -> uvicorn.Server | None:
    if not port:
        return None
    certificate = webhooks.make_certificate(Path(tempfile.mkdtemp(prefix="istiod-webhook-")))
    server = SecondaryServer(
        uvicorn.Config(
            webhooks.app(pilot_address),
            host="0.0.0.0",
            port=port,
            ssl_certfile=str(certificate.cert_path),
            ssl_keyfile=str(certificate.key_path),
            log_config=None,
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises why it could not start
        await asyncio.sleep(0.05)
    # Registered once the webhooks answer, so no request waits on a missing server.
    await asyncio.to_thread(kube.apply, api_client, webhooks.configurations(certificate.ca_pem))
    log.info("injection and validation webhooks serving", extra={"port": port})
    return server


def debug_app(model: MeshModel, server: ads.AdsServer, watcher: Watcher) -> Starlette:
    async def ready(_: Request) -> Response:
        if watcher.synced.is_set():
            return PlainTextResponse("ok")
        return PlainTextResponse("not synced with the API server yet", status_code=503)

    async def syncz(_: Request) -> Response:
        return JSONResponse([stream.status() for stream in list(server.streams.values())])

    async def configz(_: Request) -> Response:
        kinds = [kind.name for kind in KINDS if kind.group]
        return JSONResponse([rule for kind in kinds for rule in model.rules(kind)])

    async def config_dump(request: Request) -> Response:
        proxy_id = request.query_params.get("proxy", "")
        stream = server.streams.get(proxy_id)
        if stream is None:
            return JSONResponse({"error": f"no proxy {proxy_id!r} is connected"}, status_code=404)
        snapshot = build_snapshot(model, stream.proxy)
        return JSONResponse(
            {type_url: list(typed.source.values()) for type_url, typed in snapshot.items()}
        )

    return Starlette(
        routes=[
            Route("/ready", ready),
            Route("/debug/syncz", syncz),
            Route("/debug/configz", configz),
            Route("/debug/config_dump", config_dump),
        ]
    )


if __name__ == "__main__":
    main()
