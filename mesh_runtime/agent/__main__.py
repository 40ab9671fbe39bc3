"""The ``labplatform/proxy`` image: ``capture`` (the init step) or ``proxy`` (the sidecar)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from labkit.logs import configure_logging
from mesh_runtime.agent import capture, proxy
from mesh_runtime.agent.certs import CertificateSource
from mesh_runtime.identity import ROOT_PATH, TOKEN_PATH

DEFAULT_PILOT = "istiod.istio-system.svc:15010"


def main() -> int:
    if sys.argv[1:2] == ["capture"]:
        return capture.main(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="agent", description=__doc__)
    parser.add_argument("mode", choices=("proxy", "router"))
    parser.add_argument("--pilot", default=DEFAULT_PILOT, help="HOST:PORT or unix:PATH")
    parser.add_argument(
        "--ca-address", default="", help="citadel's HOST:PORT; without it, no certificate"
    )
    parser.add_argument(
        "--cert-ttl",
        default=os.environ.get("SECRET_TTL", ""),
        help="ask citadel for this lifetime, e.g. 2m (default: $SECRET_TTL, as Istio's proxy)",
    )
    args = parser.parse_args()
    configure_logging("json", "INFO")
    kind = "sidecar" if args.mode == "proxy" else "router"
    workdir = Path(tempfile.mkdtemp(prefix="envoy-"))
    certificates = None
    if args.ca_address:
        certificates = CertificateSource(
            args.ca_address, os.environ.get("POD_NAMESPACE", "default"),
            os.environ.get("SERVICE_ACCOUNT") or "default", Path(TOKEN_PATH), Path(ROOT_PATH),
            args.cert_ttl,
        )  # fmt: skip
    return asyncio.run(proxy.run(args.pilot, kind, workdir, certificates))


if __name__ == "__main__":
    sys.exit(main())
