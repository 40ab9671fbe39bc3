"""The Sentiment Analysis app in an embedded cluster with the mesh, used through a real browser.

`kubectl apply -f samples/sentiment/kube/` with sidecar injection on, the
gateway rules applied, and Chromium on the ingress gateway through
`kubectl port-forward`, as a learner's browser tab reaches it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import browser, page  # noqa: F401 - the browser fixtures
from tests.helpers import REPO, free_port, wait_for_http
from tests.mesh.conftest import meshctl
from tests.node.conftest import NodeCluster, new_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.root]

SAMPLE = REPO / "samples" / "sentiment"
DEPLOYMENTS = ("sa-frontend-v1", "sa-web-app-v1", "sa-logic-v1", "sa-feedback-v1")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[NodeCluster, str]]:
    for cluster in new_cluster(tmp_path / "data", tmp_path / "cache"):
        meshctl(cluster, "install")
        cluster.kubectl("label", "namespace", "default", "istio-injection=enabled")
        cluster.kubectl("apply", "-f", str(SAMPLE / "kube"))
        cluster.kubectl("apply", "-f", str(SAMPLE / "istio" / "gateway.yaml"))
        for name in DEPLOYMENTS:
            cluster.kubectl("rollout", "status", f"deploy/{name}", "--timeout=120s", timeout=150)
        port = free_port()
        forward = subprocess.Popen(
            [*cluster.kubectl_argv(), "port-forward", "-n", "istio-system",
             "svc/istio-ingressgateway", f"{port}:80"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=40)
            yield cluster, f"http://127.0.0.1:{port}"
        finally:
            forward.terminate()
            forward.wait(timeout=10)


@pytest.mark.console_errors("status of 502")  # the failure the test provokes at its end
def test_the_app_works_in_a_browser_through_the_gateway(
    app: tuple[NodeCluster, str],
    page: Page,  # noqa: F811
) -> None:
    cluster, url = app
    pods = [p for p in cluster.get("pods")["items"] if p["metadata"]["namespace"] == "default"]
    assert len(pods) == 4
    assert all([c["name"] for c in p["spec"]["containers"]][-1] == "istio-proxy" for p in pods)

    page.goto(url)
    page.fill("#sentence", "I really love how easy this lab makes the service mesh!")
    page.click("#send")
    expect(page.locator("#label")).to_have_text("Positive", timeout=15_000)
    polarity = float(page.locator("#polarity").inner_text())
    assert polarity > 0.5
    expect(page.locator("#version")).to_have_text("v1")
    page.click("button[data-correct=true]")
    expect(page.locator("#thanks")).to_have_text("Thanks!")
    expect(page.locator("#history")).to_contain_text("I really love how easy")

    # The feedback container restarts; what it stored is still there (its volume stays).
    cluster.kubectl("exec", "deploy/sa-feedback-v1", "-c", "sa-feedback", "--", "kill", "1",
                    check=False)  # fmt: skip

    def restarted() -> bool:
        pod = cluster.live_pods("app=sa-feedback")[0]
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        mine = [s for s in statuses if s["name"] == "sa-feedback"]
        return bool(mine) and mine[0].get("restartCount", 0) >= 1 and mine[0].get("ready")

    cluster.wait_for("sa-feedback to restart", restarted, timeout=60)
    # Ready in the pod's status, then in the gateway's endpoints a moment later (pilot pushes).
    cluster.wait_for(
        "the gateway to reach sa-feedback again",
        lambda: httpx.get(f"{url}/feedback?limit=1", timeout=5).status_code == 200,
        timeout=30,
    )
    page.reload()
    expect(page.locator("#history")).to_contain_text("I really love how easy", timeout=15_000)

    # Routing through the mesh: all analyses to v2 (the image's v2 tag) show in the page.
    cluster.kubectl("apply", "-f", str(SAMPLE / "versions" / "sa-logic-v2.yaml"),
                    "-f", str(SAMPLE / "istio" / "destination-rules.yaml"))  # fmt: skip
    cluster.kubectl("rollout", "status", "deploy/sa-logic-v2", "--timeout=120s", timeout=150)
    cluster.kubectl("apply", "-f", "-", stdin=ALL_TO_V2)

    page.fill("#sentence", "Canary releases are calm releases.")  # the reload emptied it

    def answered_by_v2() -> bool:
        page.click("#send")
        page.wait_for_timeout(300)
        return page.locator("#version").inner_text() == "v2"

    cluster.wait_for("analyses from v2", answered_by_v2, timeout=30)

    # When sa-logic fails, the page says so honestly.
    cluster.kubectl("apply", "-f", str(SAMPLE / "versions" / "sa-logic-buggy.yaml"))
    cluster.kubectl("set", "env", "deploy/sa-logic-buggy", "SA_LOGIC_FAILURE_RATE=1")
    cluster.kubectl("rollout", "status", "deploy/sa-logic-buggy", "--timeout=120s", timeout=150)
    cluster.kubectl("apply", "-f", "-", stdin=ALL_TO_V2.replace("v2", "buggy"))

    def error_shown() -> bool:
        page.click("#send")
        page.wait_for_timeout(300)
        return page.locator("#error").is_visible()

    cluster.wait_for("the failure shown", error_shown, timeout=30)
    expect(page.locator("#error")).to_have_text("sentiment answered 502: sa-logic answered 500")
    expect(page.locator("#result")).to_be_hidden()


ALL_TO_V2 = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sa-logic}
spec:
  hosts: [sa-logic]
  http: [{route: [{destination: {host: sa-logic, subset: v2}}]}]
"""


TRACES = "/api/v1/namespaces/istio-system/services/istio-mixer:9411/proxy/api/v2"


def test_one_request_is_one_trace_with_a_span_from_every_proxy(
    app: tuple[NodeCluster, str],
) -> None:
    cluster, url = app
    reply = httpx.post(f"{url}/sentiment", json={"sentence": "Tracing is illuminating."},
                       timeout=30)  # fmt: skip
    assert reply.status_code == 200

    def the_trace() -> list[dict[str, object]] | None:
        query = f"{TRACES}/traces?serviceName=sa-logic-v1&limit=50"
        found = json.loads(cluster.kubectl("get", "--raw", query).stdout)
        complete = [t for t in found if len(t) >= 4]
        return complete[0] if complete else None

    cluster.wait_for("the spans of all four proxies", lambda: the_trace() is not None, timeout=40)
    spans = the_trace() or []
    assert len({span["traceId"] for span in spans}) == 1
    services = {span["localEndpoint"]["serviceName"] for span in spans}
    assert {"istio-ingressgateway", "sa-web-app-v1", "sa-logic-v1"} <= services
    ids = {span["id"] for span in spans}
    roots = [span for span in spans if "parentId" not in span]
    assert len(roots) == 1 and roots[0]["localEndpoint"]["serviceName"] == "istio-ingressgateway"
    assert all(span["parentId"] in ids for span in spans if "parentId" in span)
    by_id = json.loads(cluster.kubectl("get", "--raw",
                                       f"{TRACES}/trace/{spans[0]['traceId']}").stdout)  # fmt: skip
    assert {span["id"] for span in by_id} == ids  # retrievable by its id
