import signal
import subprocess

import httpx

from tests.conftest import RunningServer
from tests.helpers import VENV_BIN


def test_serve_answers_and_logs_structured_lines(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/").status_code == 200
    records = server.log_records()  # every line is JSON, or this raises
    assert any(r["msg"] == "app created" and r["backend"] == "embedded" for r in records)
    assert any("Uvicorn running" in str(r["msg"]) for r in records)


def test_serve_stops_cleanly_on_sigterm(server: RunningServer) -> None:
    server.proc.send_signal(signal.SIGTERM)
    # uvicorn finishes its shutdown, then re-raises the signal it caught
    assert server.proc.wait(timeout=10) in (0, -signal.SIGTERM)
    assert any("Finished server process" in str(r["msg"]) for r in server.log_records())


def test_bad_setting_is_a_usage_error() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "labplatform"), "serve", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "setting port (LABPLATFORM_PORT): Input should be less than or equal to 65535" in (
        result.stderr
    )


def test_meshctl_reports_its_envoy() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "meshctl"), "version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("meshctl ")
    assert lines[1].startswith("envoy 1.")


def test_version_flag() -> None:
    out = subprocess.run(
        [str(VENV_BIN / "labplatform"), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    assert out.startswith("labplatform, version ")
