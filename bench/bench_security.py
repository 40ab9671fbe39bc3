"""Mesh security: what mutual TLS adds to a hop, and how fast citadel signs.

- mTLS per hop: a client-side Envoy calls a server-side Envoy that calls a
  backend, all on loopback, once in plaintext and once with Istio mutual TLS
  (the transport sockets pilot builds, certificates from our CA over file
  SDS, as the agent writes them), at a fixed 1000 requests/s in one run.
- CSR signing: citadel over TLS with an embedded cluster's API server
  checking every token (a TokenReview per request), several clients at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from bench_mesh import backend, free_port, paced, percentiles
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labkit.envoy import envoy_command, remove_shared_memory
from labplatform.clusters.embedded.manager import EmbeddedClusters
from mesh_runtime.agent.certs import CertificateSource, Credentials, write_secrets
from mesh_runtime.citadel.__main__ import TokenReviewer, serving_certificate
from mesh_runtime.citadel.ca import CertificateAuthority
from mesh_runtime.citadel.server import Citadel
from mesh_runtime.identity import SDS_DIRECTORY, TOKEN_AUDIENCE, spiffe_id
from mesh_runtime.pilot.tls import istio_mutual_client, istio_mutual_server

SIGNINGS = 200
CLIENTS = 8
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HCM = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
       "HttpConnectionManager")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ca = CertificateAuthority.generate()
        mtls_per_hop(work, ca)
        signing_rate(work, ca)


def credentials(ca: CertificateAuthority, account: str) -> Credentials:
    """What the agent would hold for ``account``, signed here without a CSR round trip."""
    key = ec.generate_private_key(ec.SECP256R1())
    chain = ca.issue(key.public_key(), [spiffe_id("default", account)], dt.timedelta(hours=1))
    return Credentials.of(chain + "".join(ca.chain_pem()), key, ca.root_pem.decode())


def envoy_config(name: str, port: int, ip: str, cluster: str, target: tuple[str, int],
                 admin: int, server_tls: bool, client_tls: Any) -> dict[str, Any]:  # fmt: skip
    """A listener on ``ip:port`` routing everything to ``target``, with the TLS asked for."""
    manager = {
        "@type": HCM,
        "stat_prefix": name,
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                }
            ]
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }
    listener: dict[str, Any] = {
        "name": name,
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }
    if server_tls:
        listener["filter_chains"][0]["transport_socket"] = istio_mutual_server()
    upstream: dict[str, Any] = {
        "name": cluster,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": cluster,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": target[0],
                                        "port_value": target[1],
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    if client_tls:
        upstream["transport_socket"] = client_tls
    return {"node": {"id": name, "cluster": "bench"},  # SDS needs to know who asks
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {"listeners": [listener], "clusters": [upstream]}}  # fmt: skip


def start_envoy(work: Path, name: str, config: dict[str, Any], sds: Path) -> tuple[
    subprocess.Popen[bytes], Path
]:  # fmt: skip
    path = work / f"{name}.json"
    # pilot's configs name the SDS directory inside a pod; here each Envoy has its own.
    path.write_text(json.dumps(config).replace(SDS_DIRECTORY, str(sds)))
    base_id = work / f"{name}.base-id"
    process = subprocess.Popen(envoy_command(path, base_id, "error"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return process, base_id


def mtls_per_hop(work: Path, ca: CertificateAuthority) -> None:
    backend_port = backend("127.0.0.1", "v1")
    results: dict[str, list[float]] = {}
    for mode in ("plaintext", "mTLS"):
        tls = mode == "mTLS"
        client_sds, server_sds = work / f"{mode}-client-sds", work / f"{mode}-server-sds"
        write_secrets(client_sds, credentials(ca, "sleep"))
        write_secrets(server_sds, credentials(ca, "reviews"))
        front, hop = free_port(), free_port()
        sni = "outbound_.80_._.reviews.default.svc.cluster.local"
        client_socket = istio_mutual_client(sni, [spiffe_id("default", "reviews")]) if tls else None
        processes = [
            start_envoy(work, f"{mode}-server", envoy_config(
                "server", hop, "127.0.0.3", "app", ("127.0.0.1", backend_port), free_port(),
                server_tls=tls, client_tls=None), server_sds),
            start_envoy(work, f"{mode}-client", envoy_config(
                "client", front, "127.0.0.1", "hop", ("127.0.0.3", hop), free_port(),
                server_tls=False, client_tls=client_socket), client_sds),
        ]  # fmt: skip
        try:
            wait_for(front)
            print(f"two Envoys, {mode} between them:")
            results[mode] = paced(front, "reviews")
            print(f"  {percentiles(results[mode])}")
        finally:
            for process, base_id in processes:
                process.terminate()
                process.wait(timeout=10)
                remove_shared_memory(base_id)
    ratios = []
    for q in (0.5, 0.9, 0.99):
        plain = sorted(results["plaintext"])[int(q * len(results["plaintext"]))]
        mutual = sorted(results["mTLS"])[int(q * len(results["mTLS"]))]
        ratios.append(
            f"p{round(q * 100)} {mutual / plain:.2f}x (+{(mutual - plain) * 1000:.2f} ms)"
        )
    print("mTLS hop / plaintext hop: " + ", ".join(ratios))


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/", headers={"Host": "reviews"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing served on {port}")
        time.sleep(0.1)


def signing_rate(work: Path, ca: CertificateAuthority) -> None:
    clusters = EmbeddedClusters(work / "data")
    clusters.create("ca")
    api = k8s_config.new_client_from_config(config_file=str(clusters.kubeconfig("ca")))
    port = free_port()
    server: uvicorn.Server | None = None
    try:
        core = k8s.CoreV1Api(api)
        request = {"spec": {"audiences": [TOKEN_AUDIENCE], "expirationSeconds": 3600}}
        granted = core.create_namespaced_service_account_token("default", "default", request)
        token = granted.status.token
        (work / "token").write_text(token)
        (work / "root.pem").write_bytes(ca.root_pem)
        citadel = Citadel(ca, TokenReviewer(api), dt.timedelta(hours=1), dt.timedelta(hours=2))
        cert, key = serving_certificate(ca, work, ["localhost"])
        server = uvicorn.Server(uvicorn.Config(
            citadel.app(), host="127.0.0.1", port=port, ssl_certfile=str(cert),
            ssl_keyfile=str(key), log_config=None, access_log=False))  # fmt: skip
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        source = CertificateSource(f"localhost:{port}", "default", "default", work / "token",
                                   work / "root.pem")  # fmt: skip
        asyncio.run(sign_many(source))
    finally:
        if server is not None:
            server.should_exit = True
        api.close()
        clusters.delete("ca")


async def sign_many(source: CertificateSource) -> None:
    """SIGNINGS certificates, CLIENTS at a time, each a fresh key, CSR and TLS connection."""
    latencies: list[float] = []

    async def one() -> None:
        began = time.perf_counter()
        await source.fetch()
        latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    for start in range(0, SIGNINGS, CLIENTS):
        await asyncio.gather(*(one() for _ in range(min(CLIENTS, SIGNINGS - start))))
    took = time.perf_counter() - began
    print(f"citadel: {SIGNINGS} CSRs signed ({CLIENTS} clients, each with a TokenReview) in "
          f"{took:.1f} s: {SIGNINGS / took:.0f} certificates/s")  # fmt: skip
    print(f"  per signing: {percentiles(latencies)}")


if __name__ == "__main__":
    main()
