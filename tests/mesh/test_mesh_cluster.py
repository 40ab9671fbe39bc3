"""The mesh in an embedded cluster: meshctl install, injected sidecars, Istio's routing task.

Real pilot in a pod watching the cluster's API server, real Envoy sidecars
capturing each pod's traffic with iptables in the pod's own namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import VENV_BIN
from tests.mesh.conftest import SUBSETS_YAML, meshctl
from tests.mesh.conftest import cluster_versions as versions
from tests.node.conftest import NodeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.root]

RULES = (
    SUBSETS_YAML
    + """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
"""
)

BROKEN = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - fault: {abort: {httpStatus: 500, percentage: {value: 101}}}
    route: [{destination: {host: reviews, subset: v2}}]
"""
TO_V3 = BROKEN.replace("v2", "v3").replace("101", "10")


def test_sidecars_sync_and_istios_request_routing_holds(mesh: NodeCluster) -> None:
    pods = mesh.get("pods")["items"]
    assert all(
        len(p["spec"]["containers"]) == 2 for p in pods if p["metadata"]["namespace"] == "default"
    )
    status = meshctl(mesh, "proxy-status").splitlines()
    assert status[0].split() == ["NAME", "CDS", "LDS", "EDS", "RDS"]
    names = sorted(line.split()[0].split("-")[0] for line in status[1:])
    assert names == ["istio", "reviews", "reviews", "sleep"]  # the gateway, and three sidecars
    assert all(line.split()[1:] == ["SYNCED"] * 4 for line in status[1:])
    assert set(versions(mesh, 30)) == {"v1", "v2"}  # no rules: both
    mesh.kubectl("apply", "-f", "-", stdin=RULES)
    mesh.wait_for("all traffic on v1", lambda: set(versions(mesh, 10)) == {"v1"}, timeout=20)
    assert set(versions(mesh, 20)) == {"v1"}
    assert set(versions(mesh, 10, "end-user: jason")) == {"v2"}
    sleep = mesh.get("pods", "-l", "app=sleep")["items"][0]["metadata"]["name"]
    clusters = meshctl(mesh, "proxy-config", "cluster", sleep).split()
    assert "outbound|80|v2|reviews.default.svc.cluster.local" in clusters
    started = json.loads(meshctl(mesh, "proxy-config", "bootstrap", sleep))
    assert started["node"]["id"] == f"sidecar~{mesh.running_pod(sleep)['status']['podIP']}~" \
        f"{sleep}.default~default.svc.cluster.local"  # fmt: skip
    assert "ads_config" in started["dynamic_resources"]
    # The request went through the client's sidecar: Envoy added its request id.
    echoed = mesh.kubectl(
        "exec", "deploy/sleep", "-c", "sleep", "--", "curl", "-s", "http://reviews/"
    ).stdout
    assert "x-request-id:" in echoed.lower()

    # A broken rule is refused at apply time, in Istio's words, and the last one keeps serving.
    refused = mesh.kubectl("apply", "-f", "-", stdin=BROKEN, check=False)
    assert refused.returncode != 0
    assert 'admission webhook "validation.istio.io" denied the request' in refused.stderr
    assert "percentage 101 is not in range 0..100" in refused.stderr
    assert set(versions(mesh, 10)) == {"v1"}
    # Valid but pointless: analysis names the missing subset and exits as istioctl does.
    found = meshctl(mesh, "analyze", "-f", "-", stdin=TO_V3, status=79)
    assert 'Referenced host+subset in destinationrule not found: "reviews+v3"' in found


def test_pods_of_a_labelled_namespace_get_the_sidecar_unless_they_opt_out(
    mesh: NodeCluster,
) -> None:
    mesh.kubectl("create", "namespace", "shop")
    mesh.kubectl("label", "namespace", "shop", "istio-injection=enabled")
    mesh.kubectl("create", "deployment", "web", "-n", "shop", "--image=labplatform/whoami")
    mesh.kubectl("run", "plain", "-n", "shop", "--image=busybox",
                 "--annotations=sidecar.istio.io/inject=false", "--", "sleep", "1d")  # fmt: skip
    mesh.kubectl("rollout", "status", "-n", "shop", "deploy/web", "--timeout=90s", timeout=120)
    web = mesh.get("pods", "-n", "shop", "-l", "app=web")["items"][0]
    assert [c["name"] for c in web["spec"]["containers"]] == ["whoami", "istio-proxy"]
    assert [c["name"] for c in web["spec"]["initContainers"]] == ["istio-init"]
    assert web["spec"]["containers"][1]["imagePullPolicy"]  # defaulted after the webhook
    plain = mesh.running_pod("plain", "shop")
    assert [c["name"] for c in plain["spec"]["containers"]] == ["plain"]
    mesh.wait_for(
        "the new sidecar in proxy-status", lambda: "web-" in meshctl(mesh, "proxy-status")
    )


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [web-gateway]
  http:
  - match: [{uri: {prefix: /reviews}}]
    rewrite: {uri: /}
    route: [{destination: {host: reviews, subset: v2}}]
"""
THROUGH_GATEWAY = "/api/v1/namespaces/istio-system/services/istio-ingressgateway:80/proxy"


def test_the_ingress_gateway_routes_what_a_gateway_and_its_virtual_service_say(
    mesh: NodeCluster,
) -> None:
    mesh.kubectl("rollout", "status", "-n", "istio-system", "deploy/istio-ingressgateway",
                 "--timeout=60s", timeout=90)  # fmt: skip
    mesh.kubectl("apply", "-f", "-", stdin=RULES + "---" + GATEWAY)

    def through_gateway(path: str) -> tuple[int, str]:
        result = mesh.kubectl("get", "--raw", f"{THROUGH_GATEWAY}{path}", check=False)
        return result.returncode, result.stdout + result.stderr

    last: list[tuple[int, str]] = []

    def routed() -> bool:
        last[:] = [through_gateway("/reviews")]
        return last[0][0] == 0

    try:
        mesh.wait_for("the gateway's route", routed, timeout=40)
    except AssertionError as error:
        status = meshctl(mesh, "proxy-status")
        raise AssertionError(f"{error}\nlast reply: {last}\n{status}") from None
    replies = [through_gateway("/reviews")[1] for _ in range(5)]
    assert all("Hostname: reviews-v2-" in reply and "GET / " in reply for reply in replies)
    assert "NotFound" in through_gateway("/elsewhere")[1]  # no route: 404 from the gateway
    gateway = mesh.get("pods", "-n", "istio-system", "-l", "istio=ingressgateway")["items"][0]
    name = gateway["metadata"]["name"]
    assert "0.0.0.0_80" in meshctl(mesh, "proxy-config", "listener", name, "-n", "istio-system")
    assert "http.80" in meshctl(mesh, "proxy-config", "route", name, "-n", "istio-system")


def test_cluster_create_with_the_mesh_comes_up_with_its_control_plane(tmp_path: Path) -> None:
    env = {**os.environ, "LABPLATFORM_DATA_DIR": str(tmp_path / "data")}
    labplatform = str(VENV_BIN / "labplatform")
    created = subprocess.run([labplatform, "cluster", "create", "meshed", "--mesh"], env=env,
                             capture_output=True, text=True, timeout=180)  # fmt: skip
    try:
        assert created.returncode == 0, created.stderr
        assert "istiod is available" in created.stderr
        assert "istio-ingressgateway is available" in created.stderr
    finally:
        subprocess.run([labplatform, "cluster", "delete", "meshed"], env=env, timeout=60)
