"""The ``labplatform/whoami`` image: an HTTP server that says which pod answered.

Labs about load balancing and routing need replies that show the replica
(``Hostname``, the pod's name) and what reached it (method, path, headers
as the sidecar left them). ``--port`` (default 80) picks the port.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server_version = "whoami"

    def _reply(self) -> None:
        lines = [
            f"Hostname: {socket.gethostname()}",
            f"IP: {os.environ.get('POD_IP') or _own_address()}",
            f"RemoteAddr: {self.client_address[0]}:{self.client_address[1]}",
            f"{self.command} {self.path} {self.request_version}",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _reply  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.client_address[0]} {format % args}", flush=True)


def _own_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: it only picks a route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("WHOAMI_PORT", "80")))
    args = parser.parse_args()
    server = ThreadingHTTPServer(("0.0.0.0", args.port), _Handler)
    # As PID 1 of its container it would ignore SIGTERM without a handler, and every
    # deletion would wait out the grace period. It keeps answering for a moment first,
    # as a well-behaved server does, while the Service stops sending it new connections.
    drain = float(os.environ.get("WHOAMI_DRAIN_SECONDS", "1"))
    signal.signal(signal.SIGTERM, lambda *_: threading.Timer(drain, os._exit, (0,)).start())
    print(f"whoami listening on :{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
