"""sa-web-app (port 8080): the frontend's API, which asks sa-logic for each sentence's polarity.

It passes on the trace headers it receives (and the end-user and
authorization headers labs route and authenticate on): a service in a mesh
must, or its calls show up as unrelated traces. When sa-logic fails or is
slow, the answer says so plainly, with sa-logic's status.
"""

from __future__ import annotations

import os

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from samples.service import application, json_body, propagated, serve, text_field

DEFAULT_LOGIC = "http://sa-logic"


def create_app(logic_url: str, timeout: float = 15.0) -> Starlette:
    client = httpx.AsyncClient(timeout=timeout)

    async def sentiment(request: Request) -> Response:
        sentence = text_field(await json_body(request), "sentence")
        url = f"{logic_url.rstrip('/')}/analyse/sentiment"
        try:
            reply = await client.post(url, json={"sentence": sentence},
                                      headers=propagated(request))  # fmt: skip
        except httpx.TimeoutException:
            raise HTTPException(504, f"sa-logic did not answer within {timeout:g} s") from None
        except httpx.HTTPError as error:
            raise HTTPException(502, f"sa-logic unreachable at {url}: {error}") from None
        if reply.status_code != 200:
            return JSONResponse(
                {"error": f"sa-logic answered {reply.status_code}",
                 "upstream_status": reply.status_code, "upstream": reply.text[:300]},
                status_code=502,
            )  # fmt: skip
        try:
            answer = reply.json()
            return JSONResponse({"sentence": sentence, "polarity": float(answer["polarity"]),
                                 "version": answer.get("version", "")})  # fmt: skip
        except (ValueError, KeyError, TypeError):
            raise HTTPException(502, "sa-logic answered without a polarity") from None

    routes = [Route("/sentiment", sentiment, methods=["POST"])]
    return application("sa-web-app", routes, on_close=client.aclose)


def main() -> None:
    logic = os.environ.get("SA_LOGIC_API_URL", DEFAULT_LOGIC)
    timeout = float(os.environ.get("SA_LOGIC_TIMEOUT_SECONDS", "15"))
    serve(create_app(logic, timeout), "sa-web-app", 8080)


if __name__ == "__main__":
    main()
