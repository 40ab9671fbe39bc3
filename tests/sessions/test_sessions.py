"""Learners' sessions on a real server with real clusters: shells, app tabs, isolation, restarts."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.sessions.conftest import (
    COURSE,
    LAB,
    SCENARIO,
    LabServer,
    csrf_of,
    running_server,
    start_session,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def ws_url(server: LabServer, path: str) -> str:
    return server.url.replace("http", "ws", 1) + path


async def run_in_shell(
    server: LabServer, client: httpx.Client, session_id: str, typed: str, expect: str
) -> str:
    """Type into terminal 1 and return everything shown until ``expect`` appears."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    async with connect(
        ws_url(server, f"/sessions/{session_id}/terminals/1"),
        additional_headers={"Cookie": cookie, "Origin": server.url},
    ) as socket:
        seen = ""
        if typed:
            await socket.send(json.dumps(["stdin", typed]))
        deadline = time.monotonic() + 30
        while expect not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"never saw {expect!r} in {seen[-500:]!r}"
            frame = json.loads(await asyncio.wait_for(socket.recv(), remaining))
            if frame[0] == "stdout":
                seen += frame[1]
        return seen


async def app_echo(server: LabServer, client: httpx.Client, session_id: str, text: str) -> str:
    """A websocket to httpbin's echo behind the gateway, through the app tab's proxy."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    async with connect(
        ws_url(server, f"/sessions/{session_id}/app/80/ws/echo"),
        additional_headers={"Cookie": cookie, "Origin": server.url},
    ) as socket:
        await socket.send(text)
        return str(await asyncio.wait_for(socket.recv(), 10))


async def refused(server: LabServer, path: str, headers: dict[str, str]) -> str:
    """The close reason when the websocket at ``path`` is refused (fails if it is served)."""
    try:
        async with connect(ws_url(server, path), additional_headers=headers) as socket:
            await asyncio.wait_for(socket.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.reason if closed.rcvd else ""
    except websockets.InvalidStatus as status:
        return f"HTTP {status.response.status_code}: {status.response.body.decode()}"
    raise AssertionError(f"{path} was served")


def test_a_learners_session_from_start_to_restart(lab_server: LabServer) -> None:
    server = lab_server
    server.wait_pool_ready()
    alice = server.learner("Alice")
    began = time.monotonic()
    session = start_session(alice)
    ready_in = time.monotonic() - began

    status = alice.get(f"/api/sessions/{session}").json()
    assert status["progress"][0].startswith("took the ready cluster"), status  # from the pool
    assert any("set-up: setup.sh" in line for line in status["progress"])
    assert status["expires_in"] > 25 * 60
    assert ready_in < 150

    # The shell is in the cluster: kubectl sees the mesh's control plane.
    shown = asyncio.run(
        run_in_shell(server, alice, session, "kubectl get pods -n istio-system\r", "istio-mixer")
    )
    assert "Running" in shown
    # Closing the connection leaves the shell: a new one gets the screen back.
    asyncio.run(run_in_shell(server, alice, session, "echo marker-$((6*7))\r", "marker-42"))
    replay = asyncio.run(run_in_shell(server, alice, session, "", "marker-42"))
    assert "echo marker-$((6*7))" in replay

    # The app tab: the sample app's page, served inside the cluster, through the gateway.
    page = alice.get(f"/sessions/{session}/app/80/")
    assert page.status_code == 200 and "Sentiment" in page.text, page.text[:300]
    assert alice.get(f"/sessions/{session}/app/80/style.css").status_code == 200
    assert asyncio.run(app_echo(server, alice, session, "through the tab")) == "through the tab"

    # Check fails before the step's work is done, with what it saw and a hint; then passes.
    headers = {"X-CSRF-Token": csrf_of(alice)}
    check = f"/api/sessions/{session}/check/02-create-a-namespace"
    before = alice.post(check, headers=headers).json()
    assert before["passed"] is False
    assert before["results"][0]["observed"] == "there is no Namespace demo"
    assert "kubectl create namespace demo" in before["results"][0]["hint"]
    asyncio.run(run_in_shell(server, alice, session, "kubectl create namespace demo\r", "created"))
    after = alice.post(check, headers=headers).json()
    assert after["passed"] is True and after["done"] == ["02-create-a-namespace"]
    assert alice.post(check).status_code == 403  # no CSRF token, no Check
    # An instructor grades the same session from the command line.
    graded = server.cli("grade", session)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert graded.stdout.startswith(f"Alice, {COURSE}/{LAB}, cluster lp-")
    assert "[PASS] A namespace called demo exists: Namespace demo" in graded.stdout
    assert "no session 'nope'" in server.cli("grade", "nope").stderr

    # kill -9 mid-session, and a cluster nobody owns appears meanwhile.
    server.kill9()
    orphan = server.cli("cluster", "create", "lp-orphan")
    assert orphan.returncode == 0, orphan.stderr
    server.start()
    status = alice.get(f"/api/sessions/{session}").json()
    assert status["state"] == "ready"
    page = alice.get(f"/courses/{COURSE}/{LAB}/02-create-a-namespace").text
    assert "1 of 2 steps done" in page and "✓ passed" in page
    shell = asyncio.run(
        run_in_shell(server, alice, session, "kubectl get namespace demo\r", "Active")
    )
    assert "demo" in shell
    deadline = time.monotonic() + 60
    while "lp-orphan" in server.clusters() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "lp-orphan" not in server.clusters()

    # Stop: the cluster goes, the progress stays.
    cluster = next(c for c in server.clusters() if c.startswith("lp-"))
    before_stop = server.clusters()
    assert alice.post(f"/api/sessions/{session}/stop", headers=headers).json()["state"] == "ended"
    stopped = before_stop - server.clusters()
    assert len(stopped) == 1, (before_stop, server.clusters(), cluster)
    assert "1 of 2 steps done" in alice.get(f"/courses/{COURSE}/{LAB}/intro").text
    events = [r["msg"] for r in server.log_records()]
    assert "session ready" in events and "deleting a cluster nobody owns" in events


def test_learners_cannot_reach_each_others_sessions(lab_server: LabServer) -> None:
    server = lab_server
    alice, mallory = server.learner("Alice"), server.learner("Mallory")
    session = start_session(alice)
    alice_cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
    mallory_cookie = "; ".join(f"{k}={v}" for k, v in mallory.cookies.items())
    terminal = f"/sessions/{session}/terminals/1"

    assert (
        asyncio.run(refused(server, terminal, {"Cookie": mallory_cookie, "Origin": server.url}))
        == "HTTP 404: no such session (or not yours)"
    )
    assert (
        asyncio.run(
            refused(server, terminal, {"Cookie": alice_cookie, "Origin": "http://evil.example"})
        )
        == "HTTP 403: cross-site websocket refused"
    )
    assert asyncio.run(refused(server, terminal, {"Origin": server.url})).startswith("HTTP 404")
    app_socket = f"/sessions/{session}/app/80/socket"
    assert asyncio.run(
        refused(server, app_socket, {"Cookie": mallory_cookie, "Origin": server.url})
    ).startswith("HTTP 404")
    for path in (f"/sessions/{session}/app/80/", f"/api/sessions/{session}"):
        assert mallory.get(path).status_code == 404
        assert httpx.get(server.url + path).status_code == 404
    stolen = mallory.post(
        f"/api/sessions/{session}/stop", headers={"X-CSRF-Token": csrf_of(mallory)}
    )
    assert stolen.status_code == 404
    assert alice.get(f"/api/sessions/{session}").json()["state"] == "ready"
    # A form posted from another site is refused even with the learner's cookie.
    forged = httpx.post(
        f"{server.url}/api/sessions/{session}/stop",
        headers={"Origin": "http://evil.example", "Cookie": alice_cookie},
    )
    assert forged.status_code == 403
    # The instructor's dashboard shows both learners; learners cannot open it.
    assert mallory.get("/admin").status_code == 403
    instructor = httpx.Client(base_url=server.url, headers={"Origin": server.url})
    assert instructor.post("/admin/login", data={"token": "wrong"}).status_code == 403
    assert instructor.post("/admin/login", data={"token": server.admin_token}).status_code == 303
    board = instructor.get("/admin").text
    assert re.search(r'data-learner="Alice"', board) and "ready" in board
    assert (
        alice.post(
            f"/api/sessions/{session}/stop", headers={"X-CSRF-Token": csrf_of(alice)}
        ).json()["state"]
        == "ended"
    )


def test_a_killercoda_scenario_runs_as_authored(lab_server: LabServer) -> None:
    server = lab_server
    learner = server.learner("Kim")
    session = start_session(learner, course=SCENARIO, lab=SCENARIO)
    progress = learner.get(f"/api/sessions/{session}").json()["progress"]
    assert "copying 1 course file(s) into the cluster" in progress
    assert "running the lab's set-up: background.sh" in progress

    step = learner.get(f"/courses/{SCENARIO}/{SCENARIO}/step1").text
    assert 'data-action="run"' in step and "kubectl create namespace from-step" in step
    # The foreground script ran in the learner's first terminal; the asset is in place.
    asyncio.run(run_in_shell(server, learner, session, "", "foreground-42"))
    shown = asyncio.run(
        run_in_shell(
            server,
            learner,
            session,
            "cat /root/lab/app.yaml; stat -c %A /root/lab/app.yaml; kubectl get ns\r",
            "from-background",
        )
    )
    assert "kind: ConfigMap  # an asset" in shown and "-rw-r--r--" in shown

    headers = {"X-CSRF-Token": csrf_of(learner)}
    check = f"/api/sessions/{session}/check/step1"
    before = learner.post(check, headers=headers).json()
    assert before["passed"] is False
    assert before["results"] == [
        {
            "name": "verify",
            "passed": False,
            "observed": "there is no namespace from-step yet",
            "hint": "",
            "seconds": 0.0,
        }
    ]
    asyncio.run(
        run_in_shell(server, learner, session, "kubectl create namespace from-step\r", "created")
    )
    assert learner.post(check, headers=headers).json()["passed"] is True
    learner.post(f"/api/sessions/{session}/stop", headers=headers)


def test_idle_sessions_end_and_a_full_server_says_so(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("idle")
    with running_server(
        root, pool_size="0", max_sessions="1", idle_minutes="0.3", warn_minutes="0.25"
    ) as server:
        alice, bob = server.learner("Alice"), server.learner("Bob")
        session = start_session(alice)
        status = alice.get(f"/api/sessions/{session}").json()
        assert status["progress"][0].startswith("creating cluster lp-")  # no pool: cold
        (cluster,) = server.clusters()

        full = bob.post(f"/courses/{COURSE}/{LAB}/start", data={"csrf": csrf_of(bob)})
        assert full.status_code == 503
        assert "All 1 lab environments on this server are in use." in full.text
        assert "The next one frees up in at most 1 minute." in full.text

        # Warned before the end; Extend starts the idle time again.
        time.sleep(4)
        assert alice.get(f"/api/sessions/{session}").json()["warning"] is True
        extended = alice.post(
            f"/api/sessions/{session}/extend", headers={"X-CSRF-Token": csrf_of(alice)}
        ).json()
        assert extended["expires_in"] >= 17

        # Left alone, it ends, and its cluster goes with it.
        deadline = time.monotonic() + 60
        while alice.get(f"/api/sessions/{session}").json()["state"] != "ended":
            assert time.monotonic() < deadline, "the idle session was not reaped"
            time.sleep(1)
        assert alice.get(f"/api/sessions/{session}").json()["end_reason"] == "idle"
        deadline = time.monotonic() + 30
        while cluster in server.clusters() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert cluster not in server.clusters()
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'labplatform_sessions_ended_total{reason="idle"} 1.0' in metrics
        assert 'labplatform_session_start_seconds_count{source="cold"} 1.0' in metrics
        assert "labplatform_capacity_refusals_total 1.0" in metrics
