"""Course server: time from `labplatform serve` to a healthy answer, and
requests per second for the health endpoint, the catalog page and a lab
page (a step rendered from Markdown, read from disk on every request, for a
learner who joined). No clusters: the pool is off."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import free_port

from labplatform.courses.scaffold import new_course

BIN = Path(sys.executable).parent
STARTS = 5
REQUESTS = 2000
CLIENTS = 4


def start_server(courses: Path, data: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    env = {
        **os.environ,
        "LABPLATFORM_COURSES_DIR": str(courses),
        "LABPLATFORM_DATA_DIR": str(data),
        "LABPLATFORM_POOL_SIZE": "0",
    }
    began = time.perf_counter()
    proc = subprocess.Popen(
        [str(BIN / "labplatform"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - began < 30:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, time.perf_counter() - began
        except httpx.TransportError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def throughput(url: str, cookies: httpx.Cookies | None = None) -> float:
    per_client = REQUESTS // CLIENTS

    def run() -> None:
        with httpx.Client(cookies=cookies) as client:
            for _ in range(per_client):
                client.get(url).raise_for_status()

    began = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(run) for _ in range(CLIENTS)]:
            future.result()
    return per_client * CLIENTS / (time.perf_counter() - began)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        courses, data = Path(tmp, "courses"), Path(tmp, "data")
        for i in range(20):
            new_course(courses, f"course-{i:02d}")
        starts = []
        for _ in range(STARTS):
            proc, url, seconds = start_server(courses, data)
            starts.append(seconds)
            stop(proc)
        print(
            f"serve -> /healthz 200: median {statistics.median(starts) * 1000:.0f} ms "
            f"(min {min(starts) * 1000:.0f}, max {max(starts) * 1000:.0f}, {STARTS} starts)"
        )
        proc, url, _ = start_server(courses, data)
        try:
            print(
                f"/healthz: {throughput(url + '/healthz'):.0f} req/s "
                f"({REQUESTS} requests, {CLIENTS} keep-alive clients)"
            )
            print(f"/ (catalog of 20 courses): {throughput(url + '/'):.0f} req/s")
            joined = httpx.post(
                f"{url}/join", data={"name": "bench"}, headers={"Origin": url}
            ).cookies
            lab = f"{url}/courses/course-00/first-lab/01-look-around"
            print(f"a lab page, anonymous: {throughput(lab):.0f} req/s")
            print(f"a lab page, a learner who joined: {throughput(lab, joined):.0f} req/s")
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
