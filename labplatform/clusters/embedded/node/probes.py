"""Liveness, readiness and startup probes: one attempt at a time, as the kubelet makes them.

httpGet and tcpSocket go to the pod's IP from the node (as a kubelet's
do from the host); exec runs the command in the container. Each attempt
has the probe's timeout; the caller counts successes and failures against
its thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

Obj = dict[str, Any]
RunInContainer = Callable[[list[str], float], Awaitable[int]]


def probe_port(port: int | str, container: Obj) -> int:
    """A numeric port, or the container port of that name."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"container has no port named {port!r}")


async def attempt(probe: Obj, pod_ip: str, container: Obj, run: RunInContainer) -> tuple[bool, str]:
    """One probe attempt: whether it passed, and what to say when it did not."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        async with asyncio.timeout(timeout):
            if "httpGet" in probe:
                return await _http(probe["httpGet"], pod_ip, container)
            if "tcpSocket" in probe:
                port = probe_port(probe["tcpSocket"]["port"], container)
                _, writer = await asyncio.open_connection(pod_ip, port)
                writer.close()
                return True, ""
            if "exec" in probe:
                code = await run(list(probe["exec"].get("command") or []), timeout)
                return code == 0, f"command exited with {code}"
            return True, ""
    except TimeoutError:
        return False, f"timeout after {timeout:g}s"
    except (OSError, ValueError) as error:
        return False, str(error)


async def _http(action: Obj, pod_ip: str, container: Obj) -> tuple[bool, str]:
    port = probe_port(action["port"], container)
    host = action.get("host") or pod_ip
    path = action.get("path") or "/"
    reader, writer = await asyncio.open_connection(host, port)
    try:
        headers = "".join(f"{h['name']}: {h['value']}\r\n" for h in action.get("httpHeaders") or [])
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.37\r\n"
            f"{headers}Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = status_line.split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if 200 <= code < 400:
        return True, ""
    url = f"http://{host}:{port}{path}"
    return False, f'Get "{url}": HTTP probe failed with statuscode: {code}'
