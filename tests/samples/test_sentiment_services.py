"""The sample app's services as a learner's curl sees them: answers, and errors that explain.

Each service runs as a real process on loopback (the same module its image
runs); sa-logic's model is the real VADER lexicon.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.samples.conftest import Start

BAD_INPUT = [
    (b"not json", 400, "body is not JSON"),
    (b"[1, 2]", 400, "body must be a JSON object"),
    (b'{"sentence": ""}', 400, '"sentence" is required: a non-empty string'),
    (b'{"text": "hello"}', 400, '"sentence" is required'),
    (b'{"sentence": "' + b"a" * 20000 + b'"}', 413, "body larger than 16384 bytes"),
]


def analyse(url: str, sentence: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/analyse/sentiment", json={"sentence": sentence}, headers=headers,
                      timeout=10)  # fmt: skip


def test_logic_versions_give_different_sensible_polarities(start: Start) -> None:
    v1, v2 = start("sentiment.logic"), start("sentiment.logic", SA_LOGIC_VERSION="v2")
    sentences = {"I love this lab, it is wonderful!": 1, "This is a terrible, awful day.": -1,
                 "The cluster has three nodes.": 0}  # fmt: skip
    for sentence, sign in sentences.items():
        first, second = analyse(v1.url, sentence).json(), analyse(v2.url, sentence).json()
        assert (first["version"], second["version"]) == ("v1", "v2")
        assert first["sentence"] == sentence
        for answer in (first, second):
            polarity = answer["polarity"]
            assert -1 <= polarity <= 1
            assert (polarity > 0.05) - (polarity < -0.05) == sign, (sentence, answer)
        if sign:
            assert first["polarity"] != second["polarity"]  # a learner can tell them apart


@pytest.mark.parametrize(("body", "status", "message"), BAD_INPUT)
def test_logic_refuses_bad_input_with_a_clear_json_error(
    start: Start, body: bytes, status: int, message: str
) -> None:
    logic = start("sentiment.logic")
    reply = httpx.post(f"{logic.url}/analyse/sentiment", content=body, timeout=10)
    assert reply.status_code == status
    assert message in reply.json()["error"]


def test_buggy_logic_fails_at_once_or_after_a_stall(start: Start) -> None:
    failing = start("sentiment.logic", SA_LOGIC_VERSION="buggy", SA_LOGIC_FAILURE_RATE="1")
    reply = analyse(failing.url, "fine")
    assert (reply.status_code, reply.json()["error"]) == (500, "sa-logic buggy: failed on purpose")
    stalling = start("sentiment.logic", SA_LOGIC_VERSION="buggy", SA_LOGIC_FAILURE_RATE="0",
                     SA_LOGIC_STALL_RATE="1", SA_LOGIC_STALL_SECONDS="0.5")  # fmt: skip
    began = time.monotonic()
    reply = analyse(stalling.url, "fine")
    assert reply.status_code == 500 and time.monotonic() - began >= 0.5
    healthy = start("sentiment.logic", SA_LOGIC_VERSION="buggy", SA_LOGIC_FAILURE_RATE="0",
                    SA_LOGIC_STALL_RATE="0")  # fmt: skip
    assert analyse(healthy.url, "fine").status_code == 200


def test_the_web_app_asks_logic_and_passes_trace_headers_on(start: Start) -> None:
    logic = start("sentiment.logic")
    web = start("sentiment.web_app", SA_LOGIC_API_URL=logic.url)
    trace = {"x-request-id": "req-42", "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
             "x-b3-spanid": "e457b5a2e4d86bd1", "x-b3-sampled": "1",
             "traceparent": "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01",
             "end-user": "jason"}  # fmt: skip
    reply = httpx.post(f"{web.url}/sentiment", json={"sentence": "What a great mesh!"},
                       headers=trace, timeout=10)  # fmt: skip
    assert reply.status_code == 200
    assert reply.json()["polarity"] > 0.5 and reply.json()["version"] == "v1"
    deadline = time.monotonic() + 5
    while "req-42" not in logic.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    received = next(line for line in logic.logs().splitlines() if "req-42" in line)
    for name, value in trace.items():  # what sa-logic logged it received
        assert f'"{name}": "{value}"' in received


def test_the_web_app_says_what_went_wrong_upstream(start: Start) -> None:
    failing = start("sentiment.logic", SA_LOGIC_VERSION="buggy", SA_LOGIC_FAILURE_RATE="1")
    web = start("sentiment.web_app", SA_LOGIC_API_URL=failing.url)
    reply = httpx.post(f"{web.url}/sentiment", json={"sentence": "hi"}, timeout=10)
    assert reply.status_code == 502
    assert reply.json()["error"] == "sa-logic answered 500"
    assert reply.json()["upstream_status"] == 500
    gone = start("sentiment.web_app", SA_LOGIC_API_URL="http://127.0.0.1:9")
    reply = httpx.post(f"{gone.url}/sentiment", json={"sentence": "hi"}, timeout=10)
    assert reply.status_code == 502 and "sa-logic unreachable" in reply.json()["error"]
    slow = start("sentiment.logic", SA_LOGIC_VERSION="buggy", SA_LOGIC_FAILURE_RATE="0",
                 SA_LOGIC_STALL_RATE="1", SA_LOGIC_STALL_SECONDS="5")  # fmt: skip
    impatient = start("sentiment.web_app", SA_LOGIC_API_URL=slow.url,
                      SA_LOGIC_TIMEOUT_SECONDS="0.5")  # fmt: skip
    reply = httpx.post(f"{impatient.url}/sentiment", json={"sentence": "hi"}, timeout=10)
    assert (reply.status_code, reply.json()["error"]) == (
        504,
        "sa-logic did not answer within 0.5 s",
    )
    for body, status, message in BAD_INPUT:
        reply = httpx.post(f"{impatient.url}/sentiment", content=body, timeout=10)
        assert (reply.status_code, message in reply.json()["error"]) == (status, True)


def test_feedback_is_stored_and_outlives_a_restart(start: Start, tmp_path: Path) -> None:
    database = str(tmp_path / "data" / "feedback.db")
    store = start("sentiment.feedback", FEEDBACK_DB=database)
    entry = {"sentence": "Envoy is fast", "polarity": 0.6, "correct": True}
    created = httpx.post(f"{store.url}/feedback", json=entry, timeout=10)
    assert created.status_code == 201 and created.json()["id"] == 1
    refused = [({**entry, "polarity": 3}, '"polarity" is required'),
               ({**entry, "correct": "yes"}, '"correct" is required'),
               ({"polarity": 0.1, "correct": False}, '"sentence" is required')]  # fmt: skip
    for bad, message in refused:
        reply = httpx.post(f"{store.url}/feedback", json=bad, timeout=10)
        assert reply.status_code == 400 and message in reply.json()["error"]
    assert httpx.get(f"{store.url}/feedback?limit=0", timeout=10).status_code == 400
    store.process.terminate()
    store.process.wait(timeout=10)
    again = start("sentiment.feedback", FEEDBACK_DB=database)
    listed = httpx.get(f"{again.url}/feedback", timeout=10).json()["feedback"]
    assert [(e["sentence"], e["polarity"], e["correct"]) for e in listed] == [
        ("Envoy is fast", 0.6, True)]  # fmt: skip


def test_the_frontend_serves_its_page_and_script(start: Start) -> None:
    page = start("sentiment.frontend")
    index = httpx.get(f"{page.url}/", timeout=10)
    assert index.status_code == 200 and "<title>Sentiment Analysis</title>" in index.text
    script = httpx.get(f"{page.url}/app.js", timeout=10)
    assert script.status_code == 200 and 'call("sentiment"' in script.text
    assert httpx.get(f"{page.url}/missing.js", timeout=10).status_code == 404
