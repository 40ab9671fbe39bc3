"""``kubectl get --raw``: one GET on a cluster's API, for what has no typed client.

The mesh's CLI reads pilot's and mixer's debug pages this way, and the
grader reads metrics, proxy statistics and traces through the API's
service and pod proxies.
"""

from __future__ import annotations

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException


def get_raw(client: k8s.ApiClient, path: str, timeout: float | None = None) -> bytes:
    """The body of ``GET path``; raises :class:`ApiException` for a status outside 2xx."""
    method, url, headers, body, post = client.param_serialize(
        method="GET", resource_path=path, auth_settings=["BearerToken"]
    )
    response = client.call_api(method, url, headers, body, post, _request_timeout=timeout)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return bytes(response.data)
