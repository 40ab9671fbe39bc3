"""Transparent capture, as istio-init sets it up: the pod's traffic goes through its sidecar.

Inbound TCP is redirected to Envoy's 15006 and outbound to 15001, by nat
rules in the pod's own network namespace (run once by the init container,
which alone has NET_ADMIN). Envoy's own traffic (uid 1337) is exempt, so it
can reach the real destination; so is loopback, except the one case Istio
also catches: Envoy sending to the pod's own address over loopback goes to
the inbound side. Ports listed as excluded (Envoy's and the agent's own)
are never captured.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

INBOUND_PORT = 15006
OUTBOUND_PORT = 15001
PROXY_UID = 1337
EXCLUDED_INBOUND = (15008, 15090, 15021, 15020)


def capture_rules(
    proxy_uid: int = PROXY_UID, excluded_inbound: tuple[int, ...] = EXCLUDED_INBOUND
) -> str:
    """The nat table for ``iptables-restore``, Istio's chains by their Istio names."""
    inbound = [f"-A ISTIO_INBOUND -p tcp --dport {port} -j RETURN" for port in excluded_inbound]
    rules = [
        "*nat",
        ":ISTIO_INBOUND - [0:0]",
        ":ISTIO_IN_REDIRECT - [0:0]",
        ":ISTIO_OUTPUT - [0:0]",
        ":ISTIO_REDIRECT - [0:0]",
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
        *inbound,
        "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT",
        f"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {INBOUND_PORT}",
        f"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {OUTBOUND_PORT}",
        "-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN",
        f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner {proxy_uid} "
        "-j ISTIO_IN_REDIRECT",
        f"-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner {proxy_uid} -j RETURN",
        f"-A ISTIO_OUTPUT -m owner --uid-owner {proxy_uid} -j RETURN",
        f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner {proxy_uid} "
        "-j ISTIO_IN_REDIRECT",
        f"-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner {proxy_uid} -j RETURN",
        f"-A ISTIO_OUTPUT -m owner --gid-owner {proxy_uid} -j RETURN",
        "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN",
        "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
        "COMMIT",
        "",
    ]
    return "\n".join(rules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="capture", description=__doc__)
    parser.add_argument("--proxy-uid", type=int, default=PROXY_UID)
    parser.add_argument("--exclude-inbound-ports", default=",".join(map(str, EXCLUDED_INBOUND)))
    parser.add_argument("--dry-run", action="store_true", help="print the rules only")
    args = parser.parse_args(argv)
    excluded = tuple(int(p) for p in args.exclude_inbound_ports.split(",") if p)
    rules = capture_rules(args.proxy_uid, excluded)
    print(rules, flush=True)
    if args.dry_run:
        return 0
    result = subprocess.run(["iptables-restore", "--noflush"], input=rules, text=True, check=False,
                            capture_output=True)  # fmt: skip
    if result.returncode != 0:
        print(f"capture: iptables-restore failed: {result.stderr.strip()}", file=sys.stderr)
    return result.returncode
