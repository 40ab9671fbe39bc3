"""The injector's rewrite of HTTP probes, so that STRICT mTLS does not turn pods unready."""

from __future__ import annotations

import json
from typing import Any

from mesh_runtime.inject import PROBERS_ENV, inject

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "sa-logic"},
    "spec": {
        "template": {
            "metadata": {"labels": {"app": "sa-logic"}},
            "spec": {
                "containers": [
                    {
                        "name": "sa-logic",
                        "ports": [{"name": "http", "containerPort": 5000}],
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http"},
                            "periodSeconds": 2,
                        },
                        "livenessProbe": {"tcpSocket": {"port": 5000}},
                    }
                ]
            },
        }
    },
}


def containers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def test_http_probes_go_through_the_agent_and_tcp_probes_stay() -> None:
    injected = containers(inject(DEPLOYMENT, "istiod.istio-system.svc:15010"))
    app, proxy = injected["sa-logic"], injected["istio-proxy"]
    assert app["readinessProbe"] == {
        "httpGet": {"path": "/app-health/sa-logic/readyz", "port": 15020, "scheme": "HTTP"},
        "periodSeconds": 2,
    }
    assert app["livenessProbe"] == {"tcpSocket": {"port": 5000}}
    (env,) = [e for e in proxy["env"] if e["name"] == PROBERS_ENV]
    assert json.loads(env["value"]) == {
        "/app-health/sa-logic/readyz": {
            "httpGet": {"path": "/healthz", "port": 5000},
            "timeoutSeconds": 1,
        }
    }
    # The manifest handed in is not changed.
    assert (
        DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"]
        == "http"
    )


def test_the_rewrite_can_be_turned_off_per_pod() -> None:
    opted_out = json.loads(json.dumps(DEPLOYMENT))
    opted_out["spec"]["template"]["metadata"]["annotations"] = {
        "sidecar.istio.io/rewriteAppHTTPProbers": "false"
    }
    injected = containers(inject(opted_out, "istiod.istio-system.svc:15010"))
    assert injected["sa-logic"]["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert all(e["name"] != PROBERS_ENV for e in injected["istio-proxy"]["env"])
