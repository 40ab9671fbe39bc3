"""What every namespace holds, and how a deleted one is emptied.

Each active namespace gets a ``default`` ServiceAccount and the cluster CA
as the ``kube-root-ca.crt`` ConfigMap (pods mount both). A namespace being
deleted has everything in it deleted, and disappears itself once empty, by
dropping its ``kubernetes`` finalizer, as upstream's namespace controller
does.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import ControllerSpec, Item
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.store import Change

NAMESPACE_KEY = "/namespaces"
SA_KEY = "/serviceaccounts"
CONFIGMAP_KEY = "/configmaps"
ROOT_CA = "kube-root-ca.crt"
EMPTY_POLL_SECONDS = 0.5
# Upstream's controller starts emptying a namespace a moment after it is marked
# for deletion; `kubectl delete -f` of a file that lists the namespace first
# relies on that to delete the rest of the file without NotFound errors.
START_DELAY_SECONDS = 2.0


def _items(api: Api, change: Change) -> list[Item]:
    if change.key == NAMESPACE_KEY:
        return [("", change.obj["metadata"]["name"])]
    return [("", change.namespace)] if change.type == "DELETED" and change.namespace else []


def _all(api: Api) -> list[Item]:
    return [("", ns["metadata"]["name"]) for ns in api.store.objects(NAMESPACE_KEY)]


async def _reconcile(api: Api, item: Item) -> float | None:
    name = item[1]
    namespace = api.store.get(NAMESPACE_KEY, "", name)
    if namespace is None:
        return None
    if namespace["metadata"].get("deletionTimestamp"):
        marked = datetime.fromisoformat(
            namespace["metadata"]["deletionTimestamp"].replace("Z", "+00:00")
        )
        waited = (datetime.now(UTC) - marked).total_seconds()
        if waited < START_DELAY_SECONDS:
            return START_DELAY_SECONDS - waited
        return await _empty(api, namespace["metadata"]["name"])
    if api.store.get(SA_KEY, name, "default") is None:
        await api.create(api.registry.by_key(SA_KEY), name, {"metadata": {"name": "default"}})
    if api.root_ca and api.store.get(CONFIGMAP_KEY, name, ROOT_CA) is None:
        await api.create(
            api.registry.by_key(CONFIGMAP_KEY),
            name,
            {
                "metadata": {
                    "name": ROOT_CA,
                    "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to "
                        "verify the kube-apiserver when using internal endpoints such as the "
                        "internal service IP or kubernetes.default.svc."
                    },
                },
                "data": {"ca.crt": api.root_ca},
            },
        )
    return None


async def _empty(api: Api, name: str) -> float | None:
    remaining = 0
    for resource in list(api.registry):
        if not resource.namespaced:
            continue
        for obj in list(api.store.objects(resource.key, name)):
            remaining += 1
            if obj["metadata"].get("deletionTimestamp"):
                continue
            try:
                await api.delete(resource, name, obj["metadata"]["name"])
            except ApiError as exc:
                if exc.code != 404:
                    raise
    if remaining:
        return EMPTY_POLL_SECONDS
    namespace = api.store.get(NAMESPACE_KEY, "", name)
    if namespace is None:
        return None
    finalized = copy.deepcopy(namespace)
    finalized["spec"]["finalizers"] = [
        f for f in finalized["spec"].get("finalizers", []) if f != "kubernetes"
    ]
    await api.update(api.registry.by_key(NAMESPACE_KEY), "", name, finalized)
    return None


NAMESPACES = ControllerSpec("namespace", None, _items, _all, _reconcile)
