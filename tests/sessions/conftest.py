"""A real course server with real embedded clusters, for the session tests.

One server per module (clusters take seconds to make), started through the
CLI as a host would, with a warm pool of one. The course is the scaffold
that ``labplatform course new`` writes, plus a set-up script that deploys
the sample app's page behind the ingress gateway, so an app tab has
something to show. Every cluster the server made is deleted at the end,
whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from labplatform.courses.scaffold import new_course
from tests.e2e.conftest import browser, page  # noqa: F401 - the browser fixtures
from tests.helpers import REPO, VENV_BIN, free_port, wait_for_http

COURSE = "mesh-101"
LAB = "first-lab"
GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: http-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: frontend}
spec:
  hosts: ["*"]
  gateways: [http-gateway]
  http:
  - match: [{uri: {prefix: /ws/}}]
    route: [{destination: {host: httpbin}}]
  - route: [{destination: {host: sa-frontend}}]
"""


def write_course(courses_dir: Path) -> Path:
    folder = new_course(courses_dir, COURSE)
    frontend = (REPO / "samples/sentiment/kube/sa-frontend.yaml").read_text()
    httpbin = (REPO / "samples/utilities/kube/httpbin.yaml").read_text()
    (folder / LAB / "setup.sh").write_text(
        "set -e\n"
        f"kubectl apply -f - <<'YAML'\n{frontend}\n---\n{httpbin}\n---\n{GATEWAY}YAML\n"
        "kubectl rollout status deployment/sa-frontend-v1 --timeout=120s\n"
        "kubectl rollout status deployment/httpbin-v1 --timeout=120s\n"
    )
    lab_yaml = folder / LAB / "lab.yaml"
    lab_yaml.write_text(lab_yaml.read_text() + "setup: setup.sh\n")
    return folder


SCENARIO = "killercoda-namespaces"
SCENARIO_INDEX = {
    "title": "Namespaces, the Killercoda way",
    "details": {
        "intro": {"text": "intro.md", "background": "background.sh", "foreground": "foreground.sh"},
        "steps": [{"title": "Make a namespace", "text": "step1.md", "verify": "verify1.sh"}],
        "finish": {"text": "finish.md"},
        "assets": {"host01": [{"file": "*.yaml", "target": "/root/lab", "chmod": "go-w"}]},
    },
    "environment": {"uilayout": "terminal"},
    "backend": {"imageid": "kubernetes-kubeadm-1node"},
}


def write_scenario(courses_dir: Path) -> Path:
    """A Killercoda scenario as authors write them: background, foreground, verify, assets."""
    folder = courses_dir / SCENARIO
    (folder / "assets").mkdir(parents=True)
    (folder / "index.json").write_text(json.dumps(SCENARIO_INDEX))
    (folder / "intro.md").write_text("# Intro\n\nThe background script made a namespace.\n")
    (folder / "step1.md").write_text(
        "# Make a namespace\n\n`kubectl create namespace from-step`{{exec}}\n"
    )
    (folder / "finish.md").write_text("# Done\n")
    (folder / "background.sh").write_text("kubectl create namespace from-background\n")
    (folder / "foreground.sh").write_text("echo foreground-$((40+2))\n")
    (folder / "verify1.sh").write_text(
        "kubectl get namespace from-step >/dev/null 2>&1 || "
        "{ echo 'FAIL: there is no namespace from-step yet'; exit 1; }\necho done\n"
    )
    (folder / "assets" / "app.yaml").write_text("kind: ConfigMap  # an asset\n")
    return folder


@dataclass
class LabServer:
    """``labplatform serve`` on its own port and data directory; restartable."""

    root: Path
    port: int = field(default_factory=free_port)
    admin_token: str = "test-admin-token"
    settings: dict[str, str] = field(default_factory=dict)  # LABPLATFORM_* overrides
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("LABPLATFORM_")}
        return {
            **keep,
            "LABPLATFORM_DATA_DIR": str(self.data_dir),
            "LABPLATFORM_COURSES_DIR": str(self.root / "courses"),
            "LABPLATFORM_POOL_SIZE": "1",
            "LABPLATFORM_MAX_SESSIONS": "3",
            "LABPLATFORM_LOG_FORMAT": "json",
            "LABPLATFORM_ADMIN_TOKEN": self.admin_token,
            "LABPLATFORM_CLUSTER_MEMORY_MB": "1536",
            **self.settings,
        }

    def start(self) -> None:
        log = (self.root / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "labplatform"), "serve", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        wait_for_http(f"{self.url}/healthz", proc=self.proc)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "labplatform"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def clusters(self) -> set[str]:
        listed = self.cli("cluster", "list").stdout
        return {line.split()[0] for line in listed.splitlines()[1:] if line.strip()}

    def log_records(self) -> list[dict[str, object]]:
        lines = (self.root / "server.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def learner(self, name: str) -> httpx.Client:
        """A browser-like client that joined as ``name``: cookie kept, Origin sent."""
        client = httpx.Client(base_url=self.url, headers={"Origin": self.url}, timeout=30)
        reply = client.post("/join", data={"name": name, "next": "/"})
        assert reply.status_code == 303, reply.text
        return client

    def wait_pool_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            metrics = httpx.get(f"{self.url}/metrics").text
            if re.search(r'labplatform_pool_clusters\{state="ready"\} 1\.0', metrics):
                return
            time.sleep(0.5)
        raise TimeoutError("the pool did not warm a cluster")


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)
    assert match, "the page carries no CSRF token: is the learner signed in?"
    return match.group(1)


def start_session(
    client: httpx.Client, timeout: float = 180, course: str = COURSE, lab: str = LAB
) -> str:
    """Press Start lab and wait until the session is ready; returns its id."""
    reply = client.post(f"/courses/{course}/{lab}/start", data={"csrf": csrf_of(client)})
    assert reply.status_code == 303, reply.text
    session_id = reply.headers["location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/sessions/{session_id}").json()
        if status["state"] == "ready":
            return session_id
        assert status["state"] == "starting", status
        time.sleep(0.5)
    raise TimeoutError(f"session {session_id} did not become ready: {status}")


@contextmanager
def serving(server: LabServer) -> Iterator[LabServer]:
    """Start ``server``; afterwards stop it and delete every cluster it made."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
        for name in server.clusters():
            server.cli("cluster", "delete", name)


@contextmanager
def running_server(root: Path, **settings: str) -> Iterator[LabServer]:
    """A server of the test course and the Killercoda scenario, with ``settings``."""
    (root / "courses").mkdir()
    write_course(root / "courses")
    write_scenario(root / "courses")
    upper = {f"LABPLATFORM_{k.upper()}": v for k, v in settings.items()}
    with serving(LabServer(root, settings=upper)) as server:
        yield server


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with running_server(tmp_path_factory.mktemp("labserver")) as server:
        yield server
