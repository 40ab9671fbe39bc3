"""A load generator for the terminal, like fortio or hey: how a service holds up, in numbers.

``python -m samples.utilities.loadgen -c 4 -qps 20 -t 10s http://reviews/``
sends requests from ``-c`` connections at ``-qps`` in total (0: as fast as
they answer) for ``-n`` requests or ``-t`` of time, shows progress each
second, then prints the status codes it got and a latency histogram with
percentiles, fortio's way, so a circuit-breaking lab can count its 503s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from labkit.durations import parse_duration

BUCKETS_MS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
              10000.0)  # fmt: skip


@dataclass
class Results:
    codes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def record(self, code: str, seconds: float) -> None:
        self.codes[code] += 1
        self.latencies.append(seconds)

    def report(self, took: float) -> str:
        total = sum(self.codes.values())
        lines = [f"{total} requests in {took:.1f} s: {total / took if took else 0:.1f} qps"]
        lines += [f"Code {code} : {count} ({100 * count / total:.1f} %)"
                  for code, count in sorted(self.codes.items())]  # fmt: skip
        if not self.latencies:
            return "\n".join(lines)
        ordered = sorted(self.latencies)
        for q in (50, 75, 90, 99, 99.9):
            index = min(len(ordered) - 1, int(q / 100 * len(ordered)))
            lines.append(f"# target {q}% {ordered[index] * 1000:.2f} ms")
        lines.append("latency histogram (ms):")
        previous = 0.0
        for bound in (*BUCKETS_MS, float("inf")):
            count = sum(previous <= s * 1000 < bound for s in ordered)
            if count:
                bar = "#" * max(1, round(40 * count / len(ordered)))
                upper = "inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f"  {previous:>5g} - {upper:>5} : {count:>6} {bar}")
            previous = bound
        return "\n".join(lines)


async def run(url: str, connections: int, qps: float, count: int, duration: float,
              method: str, headers: dict[str, str], progress: bool = True) -> Results:  # fmt: skip
    results = Results()
    started = time.perf_counter()
    sent = 0
    interval = connections / qps if qps > 0 else 0.0

    def more() -> bool:
        if count and sent >= count:
            return False
        return not duration or time.perf_counter() - started < duration

    async def worker(offset: int) -> None:
        nonlocal sent
        async with httpx.AsyncClient(timeout=30.0) as client:
            turn = 0
            while more():
                sent += 1
                if interval:
                    due = started + (turn + offset / connections) * interval
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    turn += 1
                began = time.perf_counter()
                try:
                    reply = await client.request(method, url, headers=headers)
                    code = str(reply.status_code)
                except httpx.HTTPError as error:
                    code = type(error).__name__
                results.record(code, time.perf_counter() - began)

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(1)
            done = sum(results.codes.values())
            print(f"  {time.perf_counter() - started:5.1f} s: {done} requests, "
                  f"{dict(results.codes)}", file=sys.stderr)  # fmt: skip

    reporter = asyncio.create_task(report_progress()) if progress else None
    await asyncio.gather(*(worker(i) for i in range(connections)))
    if reporter is not None:
        reporter.cancel()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="loadgen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("-c", type=int, default=4, help="connections (default 4)")
    parser.add_argument("-qps", type=float, default=8.0, help="total requests/s; 0: no limit")
    parser.add_argument("-n", type=int, default=0, help="stop after this many requests")
    parser.add_argument("-t", default="", help="stop after this long (e.g. 30s; default 5s)")
    parser.add_argument("-X", default="GET", help="method")
    parser.add_argument("-H", action="append", default=[], help="header 'Name: value'")
    parser.add_argument("-quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.c < 1:
        parser.error("-c must be at least 1")
    try:
        duration = float(parse_duration(args.t)) if args.t else (0.0 if args.n else 5.0)
    except ValueError as error:
        parser.error(f"-t: {error}")
    headers = {}
    for header in args.H:
        name, colon, value = header.partition(":")
        if not colon:
            parser.error(f"-H {header!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    began = time.perf_counter()
    results = asyncio.run(run(args.url, args.c, args.qps, args.n, duration, args.X, headers,
                              progress=not args.quiet))  # fmt: skip
    print(results.report(time.perf_counter() - began))
    return 0


if __name__ == "__main__":
    sys.exit(main())
