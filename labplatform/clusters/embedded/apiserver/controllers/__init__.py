"""The controllers that run inside the API server process, as kube-controller-manager's do.

Each is a :class:`~.base.ControllerSpec` run by :func:`~.base.run`; the
server starts them with its lifespan and restarts one that crashes.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import ControllerSpec, run
from labplatform.clusters.embedded.apiserver.controllers.deployments import DEPLOYMENTS
from labplatform.clusters.embedded.apiserver.controllers.endpoints import ENDPOINTS
from labplatform.clusters.embedded.apiserver.controllers.garbage import GARBAGE
from labplatform.clusters.embedded.apiserver.controllers.namespaces import NAMESPACES
from labplatform.clusters.embedded.apiserver.controllers.replicasets import REPLICASETS

SPECS: tuple[ControllerSpec, ...] = (NAMESPACES, DEPLOYMENTS, REPLICASETS, ENDPOINTS, GARBAGE)


def _runner(spec: ControllerSpec) -> Callable[[Api], Awaitable[None]]:
    runner = functools.partial(run, spec)
    functools.update_wrapper(runner, run)
    runner.__name__ = spec.name  # type: ignore[attr-defined]
    return runner


ALL_CONTROLLERS = tuple(_runner(spec) for spec in SPECS)
