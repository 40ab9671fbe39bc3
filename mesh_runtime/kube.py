"""The mesh's way into a cluster: the Kubernetes API, through the official client.

Applies are server-side applies under the field manager ``meshctl``, so
installing twice changes nothing and a learner's own edits to other fields
are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

Obj = dict[str, Any]
FIELD_MANAGER = "meshctl"


def api_client(kubeconfig: str | None) -> k8s.ApiClient:
    """From ``kubeconfig`` (or $KUBECONFIG / ~/.kube/config), or in-cluster credentials."""
    try:
        return k8s_config.new_client_from_config(config_file=kubeconfig)
    except k8s_config.ConfigException:
        if kubeconfig:
            raise
        k8s_config.load_incluster_config()
        return k8s.ApiClient()


def apply(client: k8s.ApiClient, documents: Iterable[Obj]) -> list[str]:
    """Server-side apply each document; returns ``kind/name`` of each, as kubectl prints."""
    dynamic = DynamicClient(client)
    applied = []
    for document in documents:
        resource = dynamic.resources.get(api_version=document["apiVersion"], kind=document["kind"])
        meta = document["metadata"]
        resource.server_side_apply(
            body=document,
            name=meta["name"],
            namespace=meta.get("namespace") if resource.namespaced else None,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        applied.append(f"{document['kind'].lower()}/{meta['name']}")
    return applied


def get_raw(client: k8s.ApiClient, path: str) -> Any:
    """``kubectl get --raw PATH``, the body parsed as JSON."""
    method, url, headers, body, post = client.param_serialize(
        method="GET", resource_path=path, auth_settings=["BearerToken"]
    )
    response = client.call_api(method, url, headers, body, post)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return json.loads(response.data)
