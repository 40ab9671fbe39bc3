"""The controllers that run inside the API server process, as kube-controller-manager's do.

Each is a :class:`~.base.Reconciler` turned into the ``async def (api)``
coroutine :class:`~..server.ApiServer` runs for as long as it serves, and
restarts (with a full resync) if it crashes. All run concurrently; the
order is only the order they start in: namespaces first (pods need the
``default`` ServiceAccount), the garbage collector last.
"""

from __future__ import annotations

from labplatform.clusters.embedded.apiserver.controllers.base import controller
from labplatform.clusters.embedded.apiserver.controllers.deployments import Deployments
from labplatform.clusters.embedded.apiserver.controllers.endpoints import Endpoints
from labplatform.clusters.embedded.apiserver.controllers.garbage import GarbageCollector
from labplatform.clusters.embedded.apiserver.controllers.namespaces import Namespaces
from labplatform.clusters.embedded.apiserver.controllers.quotas import Quotas
from labplatform.clusters.embedded.apiserver.controllers.replicasets import ReplicaSets
from labplatform.clusters.embedded.apiserver.server import Controller

ALL_CONTROLLERS: tuple[Controller, ...] = tuple(
    controller(reconciler)
    for reconciler in (Namespaces, Deployments, ReplicaSets, Endpoints, Quotas, GarbageCollector)
)
