"""Policy checks: the ext_authz filter that has a guarded workload's proxy ask mixer first.

Only workloads some PolicyRule selects pay for the round trip; their inbound
HTTP connection managers call mixer's ``Authorization.Check`` (over the
``mixer`` cluster) before the request reaches the app. When mixer cannot be
asked, the filter lets requests through unless one of the rules guarding
the workload says ``failOpen: false``.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.model import MeshModel, Workload, guards
from mesh_runtime.pilot.telemetry import CLUSTER, mixer_present

Obj = dict[str, Any]
EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"


def policy_filter(model: MeshModel, workload: Workload) -> Obj | None:
    if not mixer_present(model):
        return None
    rules = [r for r in model.rules("PolicyRule") if guards(r, workload.namespace, workload.labels)]
    if not rules:
        return None
    fail_open = all((rule.get("spec") or {}).get("failOpen", True) for rule in rules)
    return {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": EXT_AUTHZ,
            "grpc_service": {"envoy_grpc": {"cluster_name": CLUSTER}, "timeout": "1s"},
            "transport_api_version": "V3",
            "failure_mode_allow": fail_open,
        },
    }
