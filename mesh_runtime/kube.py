"""The mesh's way into a cluster: the Kubernetes API, through the official client.

Applies are server-side applies under the field manager ``meshctl``, so
installing twice changes nothing and a learner's own edits to other fields
are kept. :func:`watch` is the list-then-watch loop citadel and mixer keep
their views with (pilot's, with resume and readiness, is ``pilot/watch.py``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.dynamic import DynamicClient

from labkit import kubeapi

Obj = dict[str, Any]
FIELD_MANAGER = "meshctl"
log = logging.getLogger(__name__)


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
    return json.loads(kubeapi.get_raw(client, path))


def watch(lister: Callable[..., Any], on_set: Callable[[Obj], None],
          on_delete: Callable[[Obj], None], stop: threading.Event) -> None:  # fmt: skip
    """List, then watch, a kind of object, handing each to ``on_set`` or ``on_delete``."""
    while not stop.is_set():
        try:
            body = json.loads(lister(_preload_content=False).data)
            for obj in body.get("items") or []:
                on_set(obj)
            version = body["metadata"]["resourceVersion"]
            for event in k8s_watch.Watch().stream(lister, resource_version=version,
                                                  timeout_seconds=300):  # fmt: skip
                (on_delete if event["type"] == "DELETED" else on_set)(event["raw_object"])
        except Exception as error:  # any failure (API away, watch expired): list again shortly
            log.warning("watch failed; listing again", extra={"error": str(error)})
            time.sleep(1.0)
