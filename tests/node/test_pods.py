"""The kubelet's side of pods, seen through kubectl as a learner would see it."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.request

import pytest

from tests.helpers import free_port
from tests.node.conftest import NodeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.root]

WHOAMI = "labplatform/whoami"


def test_pods_get_their_own_address_hostname_and_files(node: NodeCluster) -> None:
    for name in ("one", "two"):
        node.kubectl("run", name, "--image=busybox", "--", "sleep", "3600")
    one, two = node.running_pod("one"), node.running_pod("two")
    assert one["status"]["podIP"] != two["status"]["podIP"]
    assert one["status"]["podIP"].startswith("10.244.") and one["spec"]["nodeName"] == node.name
    out = node.kubectl(
        "exec", "one", "--", "sh", "-c",
        "hostname; cat /etc/resolv.conf; grep one /etc/hosts; "
        "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; "
        "ls /run/labplatform/cluster | wc -l; ip -4 -o addr show eth0",
    ).stdout.splitlines()  # fmt: skip
    assert out[0] == "one"
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in out
    assert "nameserver 10.96.0.10" in out
    assert any(one["status"]["podIP"] in line and "one" in line for line in out)
    assert "default" in out
    assert "0" in out  # the node's own data (store, keys) is hidden from pods
    assert any(f"inet {one['status']['podIP']}/16" in line for line in out)
    # The projected token is a real one, bound to this pod: the API accepts it.
    token = node.kubectl(
        "exec", "one", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"
    ).stdout
    review = node.kubectl(
        "create", "-f", "-", "-o", "json",
        stdin=json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                          "spec": {"token": token}}),
    )  # fmt: skip
    status = json.loads(review.stdout)["status"]
    assert status["authenticated"] is True
    assert status["user"]["username"] == "system:serviceaccount:default:default"


def test_a_crashing_container_backs_off_and_keeps_its_previous_log(node: NodeCluster) -> None:
    node.kubectl("run", "crash", "--image=busybox", "--", "sh", "-c", "echo attempt; exit 3")

    def crashed_twice() -> dict | None:
        pod = node.get("pod", "crash")
        statuses = pod["status"].get("containerStatuses") or [{}]
        return pod if statuses[0].get("restartCount", 0) >= 1 else None

    pod = node.wait_for("a restart", crashed_twice, timeout=30)
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    listing = node.wait_for(
        "CrashLoopBackOff in kubectl get",
        lambda: "CrashLoopBackOff" in (out := node.kubectl("get", "pod", "crash").stdout) and out,
        timeout=30,
    )
    assert "crash" in listing
    assert node.kubectl("logs", "crash", "--previous").stdout == "attempt\n"
    events = node.kubectl("get", "events", "--field-selector=involvedObject.name=crash").stdout
    assert "Back-off restarting failed container" in events


def test_logs_follow_timestamps_and_tail(node: NodeCluster) -> None:
    node.kubectl(
        "run", "ticker", "--image=busybox", "--restart=Never", "--",
        "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done",
    )  # fmt: skip
    node.running_pod("ticker")
    followed = node.kubectl("logs", "-f", "ticker", timeout=30).stdout
    assert followed.splitlines() == [f"line {i}" for i in range(1, 6)]  # until the end, in order
    assert node.kubectl("logs", "ticker", "--tail=2").stdout == "line 4\nline 5\n"
    stamped = node.kubectl("logs", "ticker", "--timestamps").stdout.splitlines()
    assert stamped[0].split(" ", 1)[1] == "line 1" and stamped[0][:4].isdigit()
    node.wait_for("Succeeded", lambda: node.get("pod", "ticker")["status"]["phase"] == "Succeeded")


def test_exec_streams_exit_codes_stdin_and_a_terminal(node: NodeCluster) -> None:
    node.kubectl("run", "box", "--image=busybox", "--", "sleep", "3600")
    node.running_pod("box")
    piped = node.kubectl("exec", "-i", "box", "--", "sh", "-c", "tr a-z A-Z; exit 7",
                         stdin="hello\n", check=False)  # fmt: skip
    assert piped.stdout == "HELLO\n" and piped.returncode == 7
    # `script` gives kubectl a terminal, so `-it` allocates a real one in the pod.
    command = shlex.join([*node.kubectl_argv(), "exec", "-it", "box", "--", "tty"])
    tty = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True, text=True, timeout=30, env={"HOME": str(node.cache_dir)},
    )  # fmt: skip
    assert "/dev/pts/" in tty.stdout, tty.stdout + tty.stderr


def test_run_it_rm_attaches_to_an_interactive_shell_and_cleans_up(node: NodeCluster) -> None:
    """`kubectl run -it --rm`: the pod's own shell on a terminal, the pod gone afterwards."""
    command = shlex.join(
        [*node.kubectl_argv(), "run", "-it", "--rm", "scratch", "--image=busybox",
         "--restart=Never", "--", "sh"]
    )  # fmt: skip
    session = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        input="echo from-$(hostname) $(tty)\nexit\n",
        capture_output=True, text=True, timeout=60, env={"HOME": str(node.cache_dir)},
    )  # fmt: skip
    assert "from-scratch /dev/" in session.stdout, session.stdout + session.stderr
    assert "Cannot set tty process group" not in session.stdout
    assert 'pod "scratch" deleted' in session.stdout
    assert "scratch" not in node.kubectl("get", "pods", "-o", "name").stdout


def test_port_forward_reaches_a_port_bound_to_the_pods_localhost(node: NodeCluster) -> None:
    node.kubectl(
        "run", "local", "--image=python", "--",
        "python3", "-c",
        "import http.server as h; h.HTTPServer(('127.0.0.1', 8080), h.SimpleHTTPRequestHandler)"
        ".serve_forever()",
    )  # fmt: skip
    node.running_pod("local")
    port = free_port()
    forward = subprocess.Popen(
        [*node.kubectl_argv(), "port-forward", "pod/local", f"{port}:8080"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def answered() -> bytes | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                    return bytes(reply.read())
            except OSError:
                return None

        body = node.wait_for("the forwarded port to answer", answered, timeout=20)
        assert b"Directory listing" in body
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_init_containers_env_volumes_and_the_downward_api(node: NodeCluster) -> None:
    node.kubectl("create", "configmap", "settings", "--from-literal=greeting=hello",
                 "--from-literal=app.conf=mode=demo")  # fmt: skip
    node.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret")
    node.kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "composed", "labels": {"app": "demo"}},
        "spec": {
            "initContainers": [{
                "name": "prepare", "image": "busybox",
                "command": ["sh", "-c", "echo prepared > /work/ready"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }],
            "containers": [{
                "name": "main", "image": "busybox", "command": ["sleep", "3600"],
                "workingDir": "/work",
                "env": [
                    _from("GREETING", "configMapKeyRef", name="settings", key="greeting"),
                    _from("PASSWORD", "secretKeyRef", name="creds", key="password"),
                    _from("POD_IP", "fieldRef", fieldPath="status.podIP"),
                    _from("APP", "fieldRef", fieldPath="metadata.labels['app']"),
                    {"name": "MESSAGE", "value": "$(GREETING) from $(APP)"},
                ],
                "volumeMounts": [
                    {"name": "work", "mountPath": "/work"},
                    {"name": "config", "mountPath": "/etc/demo", "readOnly": True},
                    {"name": "secret", "mountPath": "/var/run/creds", "readOnly": True},
                ],
            }],
            "volumes": [
                {"name": "work", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "settings"}},
                {"name": "secret", "secret": {"secretName": "creds"}},
            ],
        },
    }))  # fmt: skip
    pod = node.running_pod("composed")
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"
    out = node.kubectl(
        "exec", "composed", "-c", "main", "--", "sh", "-c",
        'pwd; cat ready; echo "$GREETING $PASSWORD $POD_IP"; echo "$MESSAGE"; '
        "cat /etc/demo/app.conf; echo; cat /var/run/creds/password; echo; "
        "touch /etc/demo/x 2>&1 || true",
    ).stdout.splitlines()  # fmt: skip
    assert out[:2] == ["/work", "prepared"]
    assert out[2] == f"hello s3cret {pod['status']['podIP']}"
    assert out[3] == "hello from demo"
    assert out[4:6] == ["mode=demo", "s3cret"]
    assert "Read-only file system" in out[6]


def test_probes_decide_readiness_and_restart_the_unhealthy(node: NodeCluster) -> None:
    node.kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed"},
        "spec": {"containers": [{
            "name": "web", "image": WHOAMI,
            "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
            "livenessProbe": {"exec": {"command": ["test", "!", "-e", "/tmp/sick"]},
                              "periodSeconds": 1, "failureThreshold": 2},
        }]},
    }))  # fmt: skip
    node.running_pod("probed")
    node.kubectl("exec", "probed", "--", "touch", "/tmp/sick")
    restarted = node.wait_for(
        "a liveness restart",
        lambda: node.get("pod", "probed")["status"]["containerStatuses"][0]["restartCount"] >= 1,
        timeout=40,
    )
    assert restarted
    events = node.kubectl("get", "events", "--field-selector=involvedObject.name=probed").stdout
    assert "Liveness probe failed" in events and "will be restarted" in events


def test_an_unknown_image_backs_off_and_a_corrected_one_runs(node: NodeCluster) -> None:
    node.kubectl("run", "typo", "--image=nginxx:1.27")

    def waiting_reason() -> str | None:
        statuses = node.get("pod", "typo")["status"].get("containerStatuses") or [{}]
        waiting = statuses[0].get("state", {}).get("waiting", {})
        return (
            waiting.get("reason")
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff")
            else None
        )

    node.wait_for("a failed pull", waiting_reason, timeout=20)
    events = node.kubectl("get", "events", "--field-selector=involvedObject.name=typo").stdout
    assert "not in the embedded cluster's image catalog" in events and "busybox" in events
    node.kubectl("set", "image", "pod/typo", f"typo={WHOAMI}")
    assert node.running_pod("typo")["spec"]["containers"][0]["image"] == WHOAMI


def test_deletion_honours_the_grace_period(node: NodeCluster) -> None:
    node.kubectl("run", "stubborn", "--image=busybox", "--", "sleep", "3600")  # PID 1 ignores TERM
    node.running_pod("stubborn")
    began = time.monotonic()
    node.kubectl("delete", "pod", "stubborn", "--grace-period=2", timeout=60)
    took = time.monotonic() - began
    assert 2 <= took < 15
    listing = node.kubectl("get", "pods", "-o", "name").stdout
    assert "stubborn" not in listing


def test_deployment_replaces_deleted_pods_and_scales_to_zero_and_back(node: NodeCluster) -> None:
    node.kubectl("create", "deployment", "web", f"--image={WHOAMI}", "--replicas=3")
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    pods = node.get("pods", "-l", "app=web")["items"]
    assert len({p["status"]["podIP"] for p in pods}) == 3
    victim = pods[0]["metadata"]["name"]
    node.kubectl("delete", "pod", victim)
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    names = {p["metadata"]["name"] for p in node.live_pods("app=web")}
    assert len(names) == 3 and victim not in names
    node.kubectl("scale", "deploy/web", "--replicas=0")
    node.wait_for("no pods", lambda: not node.get("pods", "-l", "app=web")["items"])
    node.kubectl("scale", "deploy/web", "--replicas=2")
    node.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    assert node.kubectl("get", "deploy", "web").stdout.split("\n")[1].split()[1] == "2/2"


def _from(variable: str, source: str, **reference: str) -> dict[str, object]:
    return {"name": variable, "valueFrom": {source: reference}}
