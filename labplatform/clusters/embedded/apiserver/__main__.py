"""Run one cluster's API server: ``python -m labplatform.clusters.embedded.apiserver``.

The cluster manager starts this as a process of its own per cluster, so a
crash in one cluster cannot take another, or the course server, with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
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
from labplatform.clusters.embedded.pki import ClusterCredentials

log = logging.getLogger("labplatform.apiserver")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="the cluster's directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--service-cidr", default=None)
    parser.add_argument("--log-format", choices=("json", "kv"), default="json")
    args = parser.parse_args()
    configure_logging(args.log_format, "INFO")
    asyncio.run(serve(args.data_dir, args.host, args.port, args.service_cidr))


async def serve(data_dir: Path, host: str, port: int, service_cidr: str | None) -> None:
    credentials = ClusterCredentials.load_or_create(data_dir / "pki")
    store = Store(data_dir / "store.db")
    try:
        api = Api(store, Registry(), service_cidr=service_cidr, root_ca=credentials.ca_pem.decode())
        await bootstrap(api)
        server = ApiServer(
            api,
            credentials.token,
            TokenIssuer(data_dir / "pki" / "service-account.key"),
            server_address=f"{host}:{port}",
            controllers=ALL_CONTROLLERS,
        )
        config = server.uvicorn_config(
            host, port, credentials.server_cert_path, credentials.server_key_path
        )
        uvicorn_server = uvicorn.Server(config)
        log.info("api server starting", extra={"url": f"https://{host}:{port}"})
        await uvicorn_server.serve()
    finally:
        store.close()
        log.info("api server stopped")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
