"""PeerAuthentication: which mTLS mode a workload's port accepts, as Istio resolves it.

The mesh-wide policy (in the root namespace, istio-system) is overridden by
the namespace's, which is overridden by one whose selector picks the
workload, whose ``portLevelMtls`` may override a port in turn. A level that
says ``UNSET`` (or nothing) inherits. With no policy at all a port is
PERMISSIVE: it takes mTLS and plaintext alike, so a mesh can be adopted one
workload at a time.
"""

from __future__ import annotations

from typing import Any

from mesh_runtime.pilot.model import ROOT_NAMESPACE, MeshModel, Workload, selector

Obj = dict[str, Any]
MODES = ("STRICT", "PERMISSIVE", "DISABLE")


def peer_mode(model: MeshModel, workload: Workload, port: int | None = None) -> str:
    mode = "PERMISSIVE"
    for policy in applied_policies(model, workload):
        declared = (policy.get("spec", {}).get("mtls") or {}).get("mode", "UNSET")
        if declared in MODES:
            mode = declared
        if port is not None and policy.get("spec", {}).get("selector"):
            level = (policy["spec"].get("portLevelMtls") or {}).get(str(port)) or {}
            if level.get("mode") in MODES:
                mode = level["mode"]
    return mode


def applied_policies(model: MeshModel, workload: Workload) -> list[Obj]:
    """The policies that apply, outermost first (the oldest one at each level, as Istio)."""
    mesh, namespace, selected = None, None, None
    for policy in model.rules("PeerAuthentication"):
        where = policy["metadata"].get("namespace", "default")
        picks = selector(policy)
        if where == workload.namespace and picks:
            if selected is None and picks.items() <= workload.labels.items():
                selected = policy
        elif where == workload.namespace and namespace is None:
            namespace = policy
        elif where == ROOT_NAMESPACE and not picks and mesh is None:
            mesh = policy
    return [p for p in (mesh, namespace, selected) if p is not None]
