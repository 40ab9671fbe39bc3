"""What every new cluster holds before anyone uses it.

The system namespaces, the ``kubernetes`` Service on the first address of
the service range, the default RBAC roles, and the Istio CustomResourceDefinitions (so a learner's
first ``kubectl apply`` of a VirtualService works, as on a cluster where
Istio's CRDs are installed). Bootstrap is idempotent: it runs at every
start, creates what is missing and brings the bundled CRDs up to date.
"""

from __future__ import annotations

import logging

from labplatform.clusters.embedded.apiserver import rbac
from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.crds import istio_crds
from labplatform.clusters.embedded.apiserver.store import Obj

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def bootstrap(api: Api) -> None:
    registry = api.registry
    namespaces = registry.by_key("/namespaces")
    for name in SYSTEM_NAMESPACES:
        if api.store.get(namespaces.key, "", name) is None:
            await api.create(namespaces, "", {"metadata": {"name": name}})
    services = registry.by_key("/services")
    if api.store.get(services.key, "default", "kubernetes") is None:
        await api.create(services, "default", _kubernetes_service(api.cluster_ips.first))
    for key, defaults in (
        (f"{rbac.GROUP}/clusterroles", rbac.default_cluster_roles()),
        (f"{rbac.GROUP}/clusterrolebindings", rbac.default_cluster_role_bindings()),
    ):
        kind = registry.by_key(key)
        for obj in defaults:
            live = api.store.get(kind.key, "", obj["metadata"]["name"])
            if live is None:
                await api.create(kind, "", obj)
            elif {k: live.get(k) for k in obj if k != "metadata"} != {
                k: v for k, v in obj.items() if k != "metadata"
            }:  # a newer version of this project's defaults
                await api.update(kind, "", obj["metadata"]["name"], {**live, **obj,
                                 "metadata": live["metadata"]})  # fmt: skip
    crds = registry.by_key("apiextensions.k8s.io/customresourcedefinitions")
    for crd in istio_crds():
        name = crd["metadata"]["name"]
        live = api.store.get(crds.key, "", name)
        if live is None:
            await api.create(crds, "", crd)
        elif live["spec"] != crd["spec"]:
            await api.update(crds, "", name, {**live, "spec": crd["spec"]})
            log.info("updated bundled CRD", extra={"crd": name})


def _kubernetes_service(cluster_ip: str) -> Obj:
    return {
        "metadata": {
            "name": "kubernetes",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "clusterIP": cluster_ip,
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "type": "ClusterIP",
        },
    }
