"""sa-logic (port 5000): the sentence's polarity, from a real sentiment model.

VADER's lexicon ships inside the vaderSentiment package, so nothing is
downloaded at run time. The versions differ the way a canary lab needs a
learner to see: v1 answers VADER's compound score (strong, -1..1), v2 the
balance of positive and negative words (gentler, also -1..1), and both say
which version answered. ``buggy`` is v1 that fails on purpose, for the
retry, timeout and outlier-detection labs: by default a third of requests
get a 500 at once and a third a 500 after a long stall
(``SA_LOGIC_FAILURE_RATE``, ``SA_LOGIC_STALL_RATE``, ``SA_LOGIC_STALL_SECONDS``).

Each request is logged with the trace headers it came with, so
``kubectl logs`` shows whether a caller propagated them.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from samples.service import application, json_body, log, propagated, serve, text_field

VERSIONS = ("v1", "v2", "buggy")


@dataclass(frozen=True)
class Faults:
    failure_rate: float = 1 / 3
    stall_rate: float = 1 / 3
    stall_seconds: float = 10.0

    @classmethod
    def from_environment(cls) -> Faults:
        return cls(
            float(os.environ.get("SA_LOGIC_FAILURE_RATE", cls.failure_rate)),
            float(os.environ.get("SA_LOGIC_STALL_RATE", cls.stall_rate)),
            float(os.environ.get("SA_LOGIC_STALL_SECONDS", cls.stall_seconds)),
        )


def create_app(version: str, faults: Faults | None = None) -> Starlette:
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
    analyzer = SentimentIntensityAnalyzer()
    faults = faults or Faults.from_environment()

    def polarity(sentence: str) -> float:
        scores = analyzer.polarity_scores(sentence)
        if version == "v2":
            return round(float(scores["pos"]) - float(scores["neg"]), 3)
        return round(float(scores["compound"]), 3)

    async def analyse(request: Request) -> Response:
        sentence = text_field(await json_body(request), "sentence")
        log.info("analyse", extra={"version": version, "trace": propagated(request)})
        if version == "buggy":
            draw = random.random()
            if draw < faults.failure_rate:
                raise HTTPException(500, "sa-logic buggy: failed on purpose")
            if draw < faults.failure_rate + faults.stall_rate:
                await asyncio.sleep(faults.stall_seconds)
                raise HTTPException(500, "sa-logic buggy: stalled, then failed on purpose")
        return JSONResponse({"sentence": sentence, "polarity": polarity(sentence),
                             "version": version})  # fmt: skip

    return application(f"sa-logic {version}", [Route("/analyse/sentiment", analyse,
                                                      methods=["POST"])])  # fmt: skip


def main() -> None:
    version = os.environ.get("SA_LOGIC_VERSION", "v1")
    serve(create_app(version), f"sa-logic {version}", 5000)


if __name__ == "__main__":
    main()
