"""sa-frontend (port 80): the page a learner types sentences into.

The page calls ``/sentiment`` and ``/feedback`` on its own origin, so it
works only behind something that routes those paths to sa-web-app and
sa-feedback: the ingress gateway with ``samples/sentiment/istio/gateway.yaml``
applied, which is the point of the first lab.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from samples.service import application, serve

PAGE = Path(__file__).with_name("frontend")


def create_app() -> Starlette:
    return application("sa-frontend", [Mount("/", StaticFiles(directory=PAGE, html=True))])


def main() -> None:
    serve(create_app(), "sa-frontend", 80)


if __name__ == "__main__":
    main()
