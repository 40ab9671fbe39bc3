"""The grader: time per check, by kind, in a cluster running the routing lab; and every lab's play.

A check's time is what a learner waits for after pressing Check (when it
passes the first time; a failing check retries for a few seconds more).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.checks import parse_check
from labplatform.clusters.backend import run_script
from labplatform.clusters.embedded.backend import EmbeddedBackend
from labplatform.courses.discover import load
from labplatform.courses.markdown import runnable_blocks
from labplatform.sessions.grading import check_context
from labplatform.sessions.setup import prepare

REPO = Path(__file__).resolve().parent.parent
RUNS = 5
CHECKS = {
    "resource": {
        "check": "resource", "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService", "name": "sa-logic",
    },
    "workload (with sidecar)": {"check": "workload", "deployment": "sa-logic-v1", "sidecar": True},
    "traffic, 20 requests": {
        "check": "traffic", "from": {"deployment": "sleep"}, "url": "http://sa-logic/healthz",
        "requests": 20, "expect": {"status": 200},
    },
    "traffic, 200 requests (a split)": {
        "check": "traffic", "from": {"deployment": "sleep"},
        "url": "http://sa-logic/analyse/sentiment", "method": "POST",
        "headers": {"content-type": "application/json"}, "body": '{"sentence": "hi"}',
        "requests": 200, "version": {"json": "version"}, "expect": {"split": {"v1": 50, "v2": 50}},
    },
    "mtls (plaintext and identity)": {
        "check": "mtls", "service": "sa-logic", "port": 5000, "mode": "STRICT",
    },
    "metric (mixer)": {"check": "metric", "name": "istio_requests_total", "min": 1},
    "envoy_stat": {
        "check": "envoy_stat", "deployment": "sleep", "stat": "envoy_cluster_upstream_rq_total",
    },
    "trace": {"check": "trace", "services": ["sleep", "sa-logic"]},
}  # fmt: skip
COURSE = REPO / "courses" / "service-mesh"
MTLS = next(lab for lab in load(COURSE).labs if lab.slug == "mutual-tls")
STRICT = runnable_blocks(MTLS.steps[2].text)[0]  # the namespace's PeerAuthentication, STRICT


def main() -> None:
    lab = next(lab for lab in load(COURSE).labs if lab.slug == "routing")
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as tmp:
        backend = EmbeddedBackend(Path(tmp))
        try:
            backend.create("bench", lambda _: None)
            prepare(backend, "bench", lab, lambda _: None)
            subsets, half = lab.steps[0], lab.steps[4]  # so that every check below passes
            for script in (subsets.solution, half.solution, STRICT):
                run_script(backend, "bench", script, 300)
            time.sleep(2)
            with check_context(backend, "bench", lab.path) as context:
                for name, spec in CHECKS.items():
                    check = parse_check(spec)
                    times, passed = [], True
                    for _ in range(RUNS):
                        began = time.perf_counter()
                        passed = check.run(context).passed and passed
                        times.append(time.perf_counter() - began)
                    print(
                        f"{name:<34} median {statistics.median(times) * 1000:7.0f} ms "
                        f"(max {max(times) * 1000:.0f}, {RUNS} runs){'' if passed else ' FAILED'}"
                    )
        finally:
            backend.delete("bench")
        began = time.perf_counter()
        played = subprocess.run(
            [str(Path(sys.executable).parent / "labplatform"), "course", "play",
             str(COURSE)],
            capture_output=True, text=True, check=False,
            env={"LABPLATFORM_DATA_DIR": tmp, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        )  # fmt: skip
        took = time.perf_counter() - began
        print(f"course play service-mesh (every lab, each in a new cluster): {took:.1f} s, "
              f"exit {played.returncode}")  # fmt: skip
        for line in played.stdout.splitlines():
            if line.startswith("service-mesh/") or line.strip().startswith("played in"):
                print(f"  {line.strip()}")


if __name__ == "__main__":
    main()
