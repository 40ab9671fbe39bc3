"""What every new cluster holds before anyone uses it.

The system namespaces, the ``kubernetes`` Service on the first address of
the service range, and the Istio CustomResourceDefinitions (so a learner's
first ``kubectl apply`` of a VirtualService works, as on a cluster where
Istio's CRDs are installed). Bootstrap is idempotent: it runs at every
start, creates what is missing and brings the bundled CRDs up to date.
"""

from __future__ import annotations

import logging

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
