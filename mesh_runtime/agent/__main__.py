"""The ``labplatform/proxy`` image: ``capture`` (the init step) or ``proxy`` (the sidecar)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from labkit.logs import configure_logging
from mesh_runtime.agent import capture, proxy

DEFAULT_PILOT = "istiod.istio-system.svc:15010"


def main() -> int:
    if sys.argv[1:2] == ["capture"]:
        return capture.main(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="agent", description=__doc__)
    parser.add_argument("mode", choices=("proxy", "router"))
    parser.add_argument("--pilot", default=DEFAULT_PILOT, help="HOST:PORT or unix:PATH")
    args = parser.parse_args()
    configure_logging("json", "INFO")
    kind = "sidecar" if args.mode == "proxy" else "router"
    workdir = Path(tempfile.mkdtemp(prefix="envoy-"))
    return asyncio.run(proxy.run(args.pilot, kind, workdir))


if __name__ == "__main__":
    sys.exit(main())
