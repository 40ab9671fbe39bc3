"""ResourceQuota status: what each quota caps and what its namespace uses, kept current.

Admission refuses what would go over a quota; this controller writes the
figures ``kubectl describe quota`` shows, as upstream's resource quota
controller does, whenever something a quota counts comes or goes.
"""

from __future__ import annotations

from labplatform.clusters.embedded.apiserver import quota
from labplatform.clusters.embedded.apiserver.controllers.base import (
    NsName,
    Reconciler,
    ns_name,
    write_status,
)
from labplatform.clusters.embedded.apiserver.store import Change

COUNTED = frozenset({"/pods", "/services", "/configmaps", "/secrets", "apps/deployments",
                     "apps/replicasets"})  # fmt: skip


class Quotas(Reconciler[NsName]):
    name = "resourcequota-controller"
    watches = COUNTED | {quota.QUOTA_KEY}

    def items_for(self, change: Change) -> list[NsName]:
        if change.key == quota.QUOTA_KEY:
            return [ns_name(change.obj)]
        return [ns_name(q) for q in self.api.store.objects(quota.QUOTA_KEY, change.namespace)]

    def all_items(self) -> list[NsName]:
        return [ns_name(q) for q in self.api.store.objects(quota.QUOTA_KEY)]

    async def reconcile(self, item: NsName) -> float | None:
        namespace, name = item
        live = self.api.store.get(quota.QUOTA_KEY, namespace, name)
        if live is None:
            return None

        wanted = quota.status(live, lambda key: self.api.store.objects(key, namespace))
        if live.get("status") != wanted:
            await write_status(self.api, quota.QUOTA_KEY, live, wanted)
        return None
