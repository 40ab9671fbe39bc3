"""Everything a request handler may need, made once per app and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from labplatform import __version__
from labplatform.clusters.backend import ClusterBackend
from labplatform.courses.discover import is_course, load
from labplatform.courses.model import Course, Lab, Step
from labplatform.identity import Identity
from labplatform.routes.app_proxy import AppProxy
from labplatform.sessions.manager import SessionManager
from labplatform.sessions.metrics import PlatformMetrics
from labplatform.settings import Settings
from terminals.pty import TerminalManager


@dataclass
class Platform:
    settings: Settings
    db: sessionmaker[DbSession]
    identity: Identity
    backend: ClusterBackend
    sessions: SessionManager
    terminals: TerminalManager
    proxy: AppProxy
    metrics: PlatformMetrics
    templates: Jinja2Templates

    @property
    def courses_dir(self) -> Path:
        return self.settings.courses_dir

    def course(self, slug: str) -> Course:
        return find_course(self.courses_dir, slug)

    def lab(self, course: Course, slug: str) -> Lab:
        return find_lab(course, slug)

    def lookup_lab(self, course: str, lab: str) -> Lab | None:
        return lookup_lab(self.courses_dir, course, lab)

    def page(
        self, request: Request, template: str, status: int = 200, **context: object
    ) -> HTMLResponse:
        learner = self.identity.current(request)
        return self.templates.TemplateResponse(
            request,
            template,
            {"version": __version__, "learner": learner, "settings": self.settings, **context},
            status_code=status,
        )


def find_course(courses_dir: Path, slug: str) -> Course:
    folder = courses_dir / slug
    if "/" in slug or slug.startswith(".") or not is_course(folder):
        raise HTTPException(404, f"no course called {slug!r}")
    return load(folder)


def find_lab(course: Course, slug: str) -> Lab:
    for lab in course.labs:
        if lab.slug == slug:
            return lab
    raise HTTPException(404, f"course {course.slug!r} has no lab {slug!r}")


def lookup_lab(courses_dir: Path, course: str, lab: str) -> Lab | None:
    """A lab by its slugs, or None: the session manager's view of the catalog."""
    try:
        return find_lab(find_course(courses_dir, course), lab)
    except HTTPException:
        return None


def pages(lab: Lab) -> list[Step]:
    """A lab's pages in order: intro, steps, finish."""
    return [p for p in (lab.intro, *lab.steps, lab.finish) if p is not None]


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform
