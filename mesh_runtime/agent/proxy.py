"""The sidecar's supervisor (pilot-agent's job): Envoy's bootstrap, start, health, restart, drain.

Envoy sets a parent-death signal, so the agent stays its parent for as long
as it runs; it restarts Envoy if it dies (with back-off), reports readiness
on 15021 (``/healthz/ready``: Envoy's admin ``/ready`` says LIVE), answers
on its status port 15020 (readiness again, ``/debug/bootstrap`` and
``/debug/certs``, what ``meshctl proxy-config bootstrap|secret`` show, and
the app's own probes under ``/app-health/``, asked of the app on loopback
for the kubelet, as the injector rewrote them) and serves Envoy's Prometheus
stats on 15090 (``/stats/prometheus``); on SIGTERM it drains the listeners
before stopping Envoy, so in-flight requests finish. Envoy's own admin
port stays on loopback, where only the pod reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from labkit.envoy import envoy_command, remove_shared_memory
from mesh_runtime.agent.bootstrap import bootstrap
from mesh_runtime.agent.certs import CertificateSource, first_credentials, rotate
from mesh_runtime.identity import SDS_DIRECTORY
from mesh_runtime.inject import PROBERS_ENV, STATUS_PORT

log = logging.getLogger("mesh_runtime.agent")

ADMIN_PORT = 15000
HEALTH_PORT = 15021
STATS_PORT = 15090
READY = {"/healthz/ready": "/ready"}
# port -> {path served: Envoy admin path relayed}
ROUTES = {
    STATUS_PORT: {
        **READY,
        "/debug/bootstrap": "/config_dump?mask=bootstrap",
        "/debug/certs": "/certs",
    },
    HEALTH_PORT: READY,
    STATS_PORT: {"/stats/prometheus": "/stats/prometheus"},
}
DRAIN_SECONDS = 2.0
MAX_BACKOFF = 30.0


def node_id(kind: str = "sidecar") -> str:
    """Istio's node id, from the downward API variables the injector sets."""
    pod = os.environ.get("POD_NAME", "unknown")
    namespace = os.environ.get("POD_NAMESPACE", "default")
    ip = os.environ.get("INSTANCE_IP", "127.0.0.1")
    return f"{kind}~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local"


async def run(
    pilot: str, kind: str, workdir: Path, certificates: CertificateSource | None = None
) -> int:
    """Envoy under supervision until SIGTERM; with ``certificates``, only once it has one."""
    rotation: asyncio.Task[None] | None = None
    if certificates is not None:
        directory = Path(SDS_DIRECTORY)
        credentials = await first_credentials(certificates, directory)
        rotation = asyncio.create_task(rotate(certificates, directory, credentials))
    config = workdir / "envoy-bootstrap.json"
    config.write_text(json.dumps(bootstrap(node_id(kind), kind, pilot, ADMIN_PORT)))
    admin = httpx.AsyncClient(base_url=f"http://127.0.0.1:{ADMIN_PORT}", timeout=2.0)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    probers = json.loads(os.environ.get(PROBERS_ENV) or "{}")
    servers = [
        await asyncio.start_server(
            _http(admin, routes, probers if port == STATUS_PORT else {}), "0.0.0.0", port
        )
        for port, routes in ROUTES.items()
    ]
    try:
        await _supervise(config, admin, stopping)
    finally:
        if rotation is not None:
            rotation.cancel()
        for server in servers:
            server.close()
        await admin.aclose()
    return 0


async def _supervise(config: Path, admin: httpx.AsyncClient, stopping: asyncio.Event) -> None:
    backoff = 1.0
    while not stopping.is_set():
        base_id = config.with_name("envoy.base-id")
        envoy = await asyncio.create_subprocess_exec(
            *envoy_command(config, base_id), "--drain-time-s", str(int(DRAIN_SECONDS))
        )
        log.info("envoy started", extra={"pid": envoy.pid})
        exited = asyncio.ensure_future(envoy.wait())
        stop = asyncio.ensure_future(stopping.wait())
        await asyncio.wait([exited, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if envoy.returncode is not None:
            remove_shared_memory(base_id)
        if stopping.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await admin.post("/drain_listeners", params={"graceful": ""})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_SECONDS):
                    await asyncio.shield(exited)
            if envoy.returncode is None:
                envoy.terminate()
            await exited
            remove_shared_memory(base_id)
            log.info("envoy stopped")
            return
        log.warning("envoy exited; restarting", extra={"code": envoy.returncode, "in": backoff})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(backoff):
                await stopping.wait()
        backoff = min(backoff * 2, MAX_BACKOFF)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _http(admin: httpx.AsyncClient, routes: dict[str, str], probers: dict[str, Any]) -> Handler:
    """A small HTTP/1.0 responder relaying Envoy's admin paths at the paths ``routes`` names.

    Readiness is Envoy's ``LIVE``; anything else, or no answer, is 503. A path
    in ``probers`` is the app's own probe, asked of the app on loopback.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            request = await reader.readuntil(b"\r\n\r\n")
            requested = request.split(b" ", 2)[1].decode(errors="replace").split("?")[0]
            admin_path = routes.get(requested)
            if requested in probers:
                status, body = await _probe_app(probers[requested])
            elif admin_path is None:
                status, body = 404, f"no such path {requested}\n"
            else:
                try:
                    reply = await admin.get(admin_path)
                    body = reply.text
                    ok = reply.status_code == 200 and (admin_path != "/ready" or "LIVE" in body)
                    status = 200 if ok else 503
                except httpx.HTTPError as error:
                    status, body = 503, f"envoy is not answering: {error}\n"
            data = body.encode()
            reason = {200: "OK", 404: "Not Found"}.get(status, "Service Unavailable")
            writer.write(
                f"HTTP/1.0 {status} {reason}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        writer.close()

    return handle


async def _probe_app(prober: dict[str, Any]) -> tuple[int, str]:
    """The app's HTTP probe, from inside the pod: 200 if it answers 2xx or 3xx, else 503."""
    get = prober["httpGet"]
    scheme = str(get.get("scheme") or "HTTP").lower()
    url = f"{scheme}://127.0.0.1:{get['port']}{get.get('path') or '/'}"
    headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
    try:
        async with httpx.AsyncClient(verify=False, timeout=float(prober["timeoutSeconds"])) as app:
            reply = await app.get(url, headers=headers)
    except httpx.HTTPError as error:
        return 503, f"the app did not answer its probe at {url}: {error}\n"
    ok = 200 <= reply.status_code < 400
    return (200 if ok else 503), f"the app answered {reply.status_code} at {url}\n"
