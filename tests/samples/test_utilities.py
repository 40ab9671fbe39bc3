"""The lab utilities: the httpbin-compatible service and the load generator, as labs use them."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.samples.conftest import ROOT, Start


def test_httpbin_answers_as_httpbin_does(start: Start) -> None:
    bin_ = start("utilities.httpbin")
    assert httpx.get(f"{bin_.url}/status/418", timeout=10).status_code == 418
    assert {httpx.get(f"{bin_.url}/status/200,503", timeout=10).status_code
            for _ in range(40)} == {200, 503}  # fmt: skip
    bad = httpx.get(f"{bin_.url}/status/abc", timeout=10)
    assert bad.status_code == 400 and "status codes must be numbers" in bad.json()["error"]
    headers = httpx.get(f"{bin_.url}/headers", headers={"End-User": "jason"}, timeout=10).json()
    assert headers["headers"]["End-User"] == "jason"
    echoed = httpx.post(f"{bin_.url}/anything/orders?id=7", json={"qty": 2}, timeout=10).json()
    assert (echoed["method"], echoed["json"], echoed["args"]) == ("POST", {"qty": 2}, {"id": "7"})
    began = time.monotonic()
    assert httpx.get(f"{bin_.url}/delay/0.3", timeout=10).status_code == 200
    assert time.monotonic() - began >= 0.3
    assert len(httpx.get(f"{bin_.url}/uuid", timeout=10).json()["uuid"]) == 36


def test_loadgen_counts_status_codes_and_draws_latencies(start: Start) -> None:
    bin_ = start("utilities.httpbin")
    result = subprocess.run(
        [sys.executable, "-m", "samples.utilities.loadgen", "-c", "3", "-qps", "0", "-n", "60",
         f"{bin_.url}/status/200,503"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("60 requests in ")
    codes = {line.split()[1]: int(line.split()[3]) for line in out.splitlines()
             if line.startswith("Code ")}  # fmt: skip
    assert set(codes) == {"200", "503"} and sum(codes.values()) == 60
    assert "# target 99% " in out and "latency histogram (ms):" in out
    refused = subprocess.run(
        [sys.executable, "-m", "samples.utilities.loadgen", "-t", "ten", "http://127.0.0.1:9/"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert refused.returncode == 2 and "invalid duration 'ten'" in refused.stderr
