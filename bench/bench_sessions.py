"""Lab sessions: click-to-prompt from the warm pool and cold, and memory per live session.

Click-to-prompt is what a learner waits for: from pressing Start lab to the
shell's prompt in the terminal (the scaffold lab, which has no set-up
script, so only the platform is measured). Memory is PSS summed over the
session's cluster (API server, node, mesh control plane, gateway) with its
shell open; the course server's own growth is printed beside it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from common import pss_mb
from sessions_server import CourseServer

from labplatform.clusters.embedded.manager import EmbeddedClusters

RUNS = 3


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def summary(name: str, seconds: list[float]) -> None:
    print(
        f"{name:<28} median {statistics.median(seconds):.2f} s  "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} runs)"
    )


def warm() -> None:
    server = CourseServer(pool_size=1)
    try:
        seconds = []
        for run in range(RUNS):
            server.wait_pool(1)
            _, took = server.click_to_prompt(server.learner(f"warm-{run}"))
            seconds.append(took)
        summary("click-to-prompt, from pool", seconds)
    finally:
        server.close()


def cold() -> None:
    server = CourseServer(pool_size=0)
    try:
        before = available_mb()
        server_rss = pss_mb([server.proc.pid])
        seconds = []
        for run in range(RUNS):
            _, took = server.click_to_prompt(server.learner(f"cold-{run}"))
            seconds.append(took)
        summary("click-to-prompt, cold", seconds)
        time.sleep(5)  # let the control plane settle after start-up
        clusters = EmbeddedClusters(server.root / "data")
        per_session = [pss_mb(list(clusters.processes(name))) for name in server.clusters()]
        used = before - available_mb()
        fits = int(available_mb() / statistics.mean(per_session)) + len(per_session)
        print(
            f"memory per live session:     PSS {statistics.mean(per_session):.0f} MB "
            f"(min {min(per_session):.0f}, max {max(per_session):.0f}, "
            f"{len(per_session)} sessions); "
            f"MemAvailable fell {used / len(per_session):.0f} MB per session"
        )
        print(
            f"course server:               {server_rss:.0f} MB PSS idle, "
            f"{pss_mb([server.proc.pid]):.0f} MB with {len(per_session)} sessions and shells"
        )
        print(f"sessions that fit in memory: about {fits} on this machine")
    finally:
        server.close()


def main() -> None:
    warm()
    cold()


if __name__ == "__main__":
    main()
