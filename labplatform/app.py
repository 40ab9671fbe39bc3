"""The course server's ASGI application.

``create_app`` builds a fresh app from explicit settings, so tests and the
CLI each get their own instance rather than sharing a module-level global.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from labplatform import __version__
from labplatform.pages import course_pages
from labplatform.settings import Settings

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
STATIC_DIR = WEB_DIR / "static"
BUNDLE = STATIC_DIR / "build" / "main.js"


def create_app(settings: Settings) -> FastAPI:
    """The course server for ``settings``; it creates the data directory if needed."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="labplatform", version=__version__, docs_url="/api/docs")
    app.state.settings = settings
    app.state.started = time.time()
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers. Nothing else is checked here on purpose."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Readiness: everything a learner's first page needs is in place."""
        checks = {
            "data_dir_writable": os.access(settings.data_dir, os.W_OK),
            "frontend_built": BUNDLE.is_file(),
            "courses_dir_exists": settings.courses_dir.is_dir(),
        }
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/version", tags=["health"])
    def version() -> dict[str, object]:
        return {
            "version": __version__,
            "python": platform.python_version(),
            "backend": settings.backend,
            "uptime_seconds": round(time.time() - app.state.started, 1),
        }

    app.include_router(course_pages(settings.courses_dir, templates))

    log.info(
        "app created",
        extra={"backend": settings.backend, "data_dir": str(settings.data_dir)},
    )
    return app
