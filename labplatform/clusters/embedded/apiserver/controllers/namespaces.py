"""What every namespace holds, and how a deleted one is emptied.

Each active namespace gets a ``default`` ServiceAccount and the cluster CA
as the ``kube-root-ca.crt`` ConfigMap (pods need both; either comes back
if deleted). A namespace being deleted has every namespaced object of
every resource the server knows, custom resources included, deleted; its
status conditions say what remains and which finalizers hold it, as
upstream's do, so ``kubectl describe ns`` explains a namespace stuck in
Terminating. Once empty it drops the ``kubernetes`` finalizer through the
``finalize`` subresource and the API server removes it.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter

from labplatform.clusters.embedded.apiserver.api import now_rfc3339
from labplatform.clusters.embedded.apiserver.controllers.base import (
    WRITE,
    NsName,
    Reconciler,
    delete_quietly,
    parse_time,
    write_status,
)
from labplatform.clusters.embedded.apiserver.store import Change, Obj

log = logging.getLogger(__name__)

NAMESPACE_KEY = "/namespaces"
SA_KEY = "/serviceaccounts"
CONFIGMAP_KEY = "/configmaps"
ROOT_CA = "kube-root-ca.crt"
FINALIZER = "kubernetes"
# Deletion is driven by the DELETED events of the contents; this is the safety net.
EMPTY_POLL_SECONDS = 1.0
# Upstream's controller starts emptying a namespace a moment after it is marked
# for deletion; `kubectl delete -f` of a file that lists the namespace first
# relies on that to delete the rest of the file without NotFound errors.
START_DELAY_SECONDS = 2.0
_SETTLED_CONDITIONS = (
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
)


class Namespaces(Reconciler[NsName]):
    name = "namespace-controller"
    watches = None  # a namespace's contents are every kind

    def items_for(self, change: Change) -> list[NsName]:
        if change.key == NAMESPACE_KEY:
            return [("", change.obj["metadata"]["name"])]
        if change.type == "DELETED" and change.namespace:
            return [("", change.namespace)]  # a default gone, or a terminating namespace emptier
        return []

    def all_items(self) -> list[NsName]:
        return [("", ns["metadata"]["name"]) for ns in self.api.store.objects(NAMESPACE_KEY)]

    async def reconcile(self, item: NsName) -> float | None:
        name = item[1]
        namespace = self.api.store.get(NAMESPACE_KEY, "", name)
        if namespace is None:
            return None
        marked = namespace["metadata"].get("deletionTimestamp")
        if marked:
            waited = time.time() - parse_time(marked)
            if waited < START_DELAY_SECONDS:
                return START_DELAY_SECONDS - waited
            return await self._empty(namespace)
        await self._ensure_defaults(name)
        return None

    async def _ensure_defaults(self, name: str) -> None:
        api = self.api
        if api.store.get(SA_KEY, name, "default") is None:
            account = {"metadata": {"name": "default"}}
            await api.create(api.registry.by_key(SA_KEY), name, account, WRITE)
        if api.root_ca and api.store.get(CONFIGMAP_KEY, name, ROOT_CA) is None:
            description = (
                "Contains a CA bundle that can be used to verify the kube-apiserver when using "
                "internal endpoints such as the internal service IP or kubernetes.default.svc. "
                "No other usage is guaranteed across distributions of Kubernetes clusters."
            )
            configmap = {
                "metadata": {
                    "name": ROOT_CA,
                    "annotations": {"kubernetes.io/description": description},
                },
                "data": {"ca.crt": api.root_ca},
            }
            await api.create(api.registry.by_key(CONFIGMAP_KEY), name, configmap, WRITE)

    async def _empty(self, namespace: Obj) -> float | None:
        name = namespace["metadata"]["name"]
        resources = [rt for rt in self.api.registry if rt.namespaced]
        for rt in resources:
            for obj in list(self.api.store.objects(rt.key, name)):
                if not obj["metadata"].get("deletionTimestamp"):
                    await delete_quietly(self.api, rt, obj)
        remaining: Counter[str] = Counter()
        finalizers: Counter[str] = Counter()
        for rt in resources:
            for obj in self.api.store.objects(rt.key, name):
                remaining[rt.qualified] += 1
                finalizers.update(obj["metadata"].get("finalizers") or [])
        await self._report(namespace, remaining, finalizers)
        if remaining:
            return EMPTY_POLL_SECONDS
        if FINALIZER in (namespace.get("spec") or {}).get("finalizers", []):
            log.info("namespace emptied; finalizing", extra={"namespace": name})
            current = self.api.store.get(NAMESPACE_KEY, "", name)
            if current is not None:
                current["spec"]["finalizers"] = [
                    f for f in current["spec"]["finalizers"] if f != FINALIZER
                ]
                await self.api.update(
                    self.api.registry.by_key(NAMESPACE_KEY),
                    "",
                    name,
                    current,
                    subresource="finalize",
                    opts=WRITE,
                )
        return None

    async def _report(
        self, namespace: Obj, remaining: Counter[str], finalizers: Counter[str]
    ) -> None:
        """Upstream's deletion conditions on the namespace's status."""
        wanted = [(kind, "False", reason, message) for kind, reason, message in _SETTLED_CONDITIONS]
        wanted.append(
            _counted(
                "NamespaceContentRemaining",
                remaining,
                (
                    "SomeResourcesRemain",
                    "Some resources are remaining: ",
                    "{} has {} resource instances",
                ),
                ("ContentRemoved", "All content successfully removed"),
            )
        )
        wanted.append(
            _counted(
                "NamespaceFinalizersRemaining",
                finalizers,
                (
                    "SomeFinalizersRemain",
                    "Some content in the namespace has finalizers remaining: ",
                    "{} in {} resource instances",
                ),
                ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
            )
        )
        status = copy.deepcopy(namespace.get("status") or {})
        previous = {c["type"]: c for c in status.get("conditions") or []}
        conditions = []
        for kind, state, reason, message in wanted:
            before = previous.get(kind)
            stamp = before["lastTransitionTime"] if before and before["status"] == state else None
            conditions.append(
                {
                    "type": kind,
                    "status": state,
                    "lastTransitionTime": stamp or now_rfc3339(),
                    "reason": reason,
                    "message": message,
                }
            )
        if conditions == status.get("conditions"):
            return
        status["conditions"] = conditions
        await write_status(self.api, NAMESPACE_KEY, namespace, status)


def _counted(
    kind: str, counts: Counter[str], found: tuple[str, str, str], clear: tuple[str, str]
) -> tuple[str, str, str, str]:
    """A condition that is True, listing ``counts``, while there are any."""
    if not counts:
        return (kind, "False", *clear)
    reason, message, item = found
    return (
        kind,
        "True",
        reason,
        message + ", ".join(item.format(*c) for c in sorted(counts.items())),
    )
