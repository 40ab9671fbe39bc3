"""The ``services/proxy`` and ``pods/proxy`` subresources: HTTP to an app inside the cluster.

``/api/v1/namespaces/{ns}/services/{name}[:port]/proxy/{path}`` reaches a
Service (by its port's name or number, the first port by default) and
``.../pods/{name}[:port]/proxy/{path}`` a pod, as on any Kubernetes API
server. The API server lives in the cluster's network, so this is how
something outside (the course server opening a learner's app in a tab,
``kubectl get --raw``) reaches an app without any route into the cluster.
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response

from labkit.httprelay import relay
from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.api import Api

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def target(api: Api, kind: str, namespace: str, name_and_port: str) -> str:
    """``http://address:port`` for the named Service or pod, or a 404/503 as upstream says."""
    name, _, port = name_and_port.partition(":")
    if kind == "services":
        service = api.store.get("/services", namespace, name)
        if service is None:
            raise errors.not_found("services", name)
        spec = service.get("spec", {})
        ports = spec.get("ports") or []
        chosen = next(
            (p for p in ports if not port or p.get("name") == port or str(p["port"]) == port),
            None,
        )
        if chosen is None or not spec.get("clusterIP") or spec["clusterIP"] == "None":
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        return f"http://{spec['clusterIP']}:{chosen['port']}"
    pod = api.store.get("/pods", namespace, name)
    if pod is None:
        raise errors.not_found("pods", name)
    ip = pod.get("status", {}).get("podIP")
    if not ip:
        raise errors.service_unavailable(f'pod "{name}" has no address yet')
    declared = [
        str(p["containerPort"])
        for c in pod["spec"].get("containers", [])
        for p in c.get("ports") or []
        if not port or p.get("name") == port
    ]
    number = port if port.isdigit() else (declared[0] if declared else "80")
    return f"http://{ip}:{number}"


async def forward(request: Request, base: str, path: str, client: httpx.AsyncClient) -> Response:
    try:
        return await relay(request, client, f"{base}/{path}")
    except httpx.HTTPError as error:
        raise errors.service_unavailable(f"error trying to reach {base}: {error}") from None
