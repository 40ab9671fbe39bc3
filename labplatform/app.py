"""The course server's ASGI application.

``create_app`` builds a fresh app from explicit settings, so tests and the
CLI each get their own instance rather than sharing a module-level global.
The session manager runs for as long as the app does (its lifespan): it
recovers what the last run left, keeps the pool warm and reaps idle
sessions. Clusters outlive the process on purpose: a restart keeps every
learner's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import platform
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from labplatform import __version__
from labplatform.clusters.backend import ClusterBackend
from labplatform.identity import Identity
from labplatform.platform import Platform, lookup_lab
from labplatform.routes.app_proxy import AppProxy
from labplatform.routes.courses import course_router
from labplatform.routes.dashboard import dashboard_router
from labplatform.routes.join import join_router
from labplatform.routes.sessions import session_router
from labplatform.sessions import db as database
from labplatform.sessions.manager import Limits, SessionManager
from labplatform.sessions.metrics import PlatformMetrics
from labplatform.settings import Settings
from terminals.pty import TerminalManager

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
STATIC_DIR = WEB_DIR / "static"
BUNDLE = STATIC_DIR / "build" / "main.js"
ADMIN_TOKEN_FILE = "admin-token"


def make_backend(settings: Settings) -> ClusterBackend:
    if settings.backend == "kubernetes":
        from labplatform.clusters.kubernetes.backend import KubernetesBackend

        return KubernetesBackend(settings.data_dir, settings.kubeconfig)
    if settings.backend == "kind":
        from labplatform.clusters.kind.backend import KindBackend

        return KindBackend(settings.data_dir)
    from labplatform.clusters.embedded.backend import EmbeddedBackend

    return EmbeddedBackend(settings.data_dir, settings.cluster_memory_mb, settings.cluster_cpus)


def max_sessions_for(settings: Settings, backend: ClusterBackend) -> int:
    """The configured cap, lowered to what an existing cluster's nodes can hold."""
    from labplatform.clusters.kubernetes.backend import KubernetesBackend

    if isinstance(backend, KubernetesBackend):
        fits = backend.capacity()
        if fits < settings.max_sessions:
            log.warning(
                "the cluster holds fewer sessions than max_sessions",
                extra={"fits": fits, "max_sessions": settings.max_sessions},
            )
            return max(fits, 1)
    return settings.max_sessions


def admin_token(settings: Settings) -> str:
    """The configured token, else the one kept in the data directory (made once, mode 0600)."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / ADMIN_TOKEN_FILE
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
        log.info("made an admin token for instructors", extra={"path": str(path)})
    return path.read_text().strip()


def create_app(settings: Settings, backend: ClusterBackend | None = None) -> FastAPI:
    """The course server for ``settings``; it creates the data directory if needed."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = database.connect(settings.effective_database_url)
    terminals = TerminalManager()
    backend = backend or make_backend(settings)
    metrics = PlatformMetrics(lambda: sessions.counts())
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    identity = Identity(
        db,
        event_code=settings.event_code,
        admin_token=admin_token(settings),
        allow_anonymous=settings.allow_anonymous,
        secure_cookies=settings.secure_cookies,
    )
    limits = Limits(
        max_sessions=max_sessions_for(settings, backend),
        pool_size=settings.pool_size,
        idle_minutes=settings.idle_minutes,
        warn_minutes=settings.warn_minutes,
        max_minutes=settings.max_minutes,
    )
    proxy = AppProxy()
    sessions = SessionManager(
        db,
        backend,
        limits,
        terminals,
        metrics,
        functools.partial(lookup_lab, settings.courses_dir),
        proxy.forget,
    )
    platform_ = Platform(
        settings, db, identity, backend, sessions, terminals, proxy, metrics, templates
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner = asyncio.create_task(platform_.sessions.run(), name="sessions")
        try:
            yield
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await platform_.proxy.close()
            database.dispose(db)

    app = FastAPI(title="labplatform", version=__version__, docs_url="/api/docs", lifespan=lifespan)
    app.state.settings = settings
    app.state.platform = platform_
    app.state.started = time.time()
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

    for router in (course_router(), join_router(), session_router(), dashboard_router()):
        app.include_router(router)

    log.info(
        "app created",
        extra={"backend": settings.backend, "data_dir": str(settings.data_dir)},
    )
    return app
