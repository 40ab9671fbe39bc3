"""The traffic check's arithmetic: replies parsed from curl, splits judged, failures explained."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from grader.checks import parse_check
from grader.traffic import MARK, TrafficCheck, parse_replies, share_matches, split_matches


def reply(status: int, version: str = "", seconds: float = 0.01, exit_status: int = 0) -> str:
    """What the probe prints for one request: curl -i's head and body, then the marker line."""
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-version: {version}\r\n\r\n"
    body = json.dumps({"version": version})
    return f"{head}{body}\n{MARK} {status} {seconds} {exit_status}\n"


def check(**spec: object) -> TrafficCheck:
    parsed = parse_check({"check": "traffic", "url": "http://sa-logic/", **spec})
    assert isinstance(parsed, TrafficCheck)
    return parsed


def test_replies_are_parsed_with_status_time_version_and_refusals() -> None:
    output = (
        "HTTP/1.1 100 Continue\r\n\r\n" + reply(200, "v1", 0.5) + reply(503, "v2")
        + f"\n{MARK} 000 0.002 7\n"
    )  # fmt: skip
    replies = parse_replies(output)
    assert [(r.status, r.seconds) for r in replies] == [(200, 0.5), (503, 0.01), (0, 0.002)]
    assert replies[0].headers["x-version"] == "v1" and json.loads(replies[1].body) == {
        "version": "v2"
    }


@pytest.mark.parametrize(
    ("counts", "total", "passes"),
    [
        ({"v1": 160, "v2": 40}, 200, True),
        ({"v1": 150, "v2": 50}, 200, True),  # chance: within 3.29 standard deviations
        ({"v1": 100, "v2": 100}, 200, False),  # 50/50 is not 80/20
        ({"v1": 200}, 200, False),
        ({"v1": 160, "v2": 30, "v3": 10}, 200, False),  # a version nobody asked for
    ],
)
def test_a_split_is_judged_with_a_statistical_tolerance(
    counts: dict[str, int], total: int, passes: bool
) -> None:
    assert split_matches({"v1": 80, "v2": 20}, Counter(counts), total) is passes


def test_all_or_nothing_shares_are_exact() -> None:
    assert share_matches(1.0, 20, 20) and not share_matches(1.0, 19, 20)
    assert share_matches(0.0, 0, 20) and not share_matches(0.0, 1, 20)


def test_a_wrong_split_says_what_it_observed() -> None:
    canary = check(version={"json": "version"}, expect={"split": {"v1": 80, "v2": 20}})
    output = "".join(reply(200, "v1") for _ in range(51)) + "".join(
        reply(200, "v2") for _ in range(49)
    )
    failures, _ = canary.judge(parse_replies(output))
    assert failures == ["observed v1 51%, v2 49% of 100 requests (expected v1 80%, v2 20%)"]


def test_statuses_latencies_and_refusals_are_explained() -> None:
    aborts = check(expect={"status": 500, "ratio": 0.5})
    failures, _ = aborts.judge(parse_replies(reply(200) * 20))
    assert failures == ["0% answered 500 (expected 50%); 20×200"]
    # Ten replies are too few to tell 0% from 50% at the 99.9% level: they do not fail it.
    assert aborts.judge(parse_replies(reply(200) * 10))[0] == []
    slow = check(expect={"slower_than": "2s"})
    failures, _ = slow.judge(parse_replies(reply(200, seconds=0.1) * 5))
    assert failures == ["median 0.10 s, p90 0.10 s: expected at least 2 s"]
    refused = check(expect={"refused": True})
    failures, facts = refused.judge(parse_replies(f"\n{MARK} 000 0.001 56\n" * 3))
    assert failures == [] and facts[-1] == "every request was refused before any HTTP answer"


def test_the_probe_is_one_shell_loop_from_the_clients_pod() -> None:
    probe = check(
        **{"from": {"deployment": "sleep", "namespace": "team"}},
        method="post",
        headers={"end-user": "tester"},
        body='{"a": 1}',
        requests=3,
        timeout="2s",
        expect={"status": 200},
    )
    script = probe.script()
    assert script.startswith("kubectl exec -n team deploy/sleep -- sh -c ")
    assert "seq 3" in script and "-X POST" in script and "end-user: tester" in script
    assert "-m 2" in script
