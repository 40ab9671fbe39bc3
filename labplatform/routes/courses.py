"""Course pages: the catalog, a course, and a lab read step by step.

Courses are read from disk on every request, so an author editing a step
sees the change on reload (``serve --dev`` needs nothing more). Anyone may
read a lab; a learner with a live session of it also gets the workspace:
terminals, app tabs, Check and the countdown.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from labplatform.courses.discover import content_version, discover_courses
from labplatform.courses.markdown import StepRenderer
from labplatform.courses.model import Course, Step
from labplatform.platform import pages, platform_of
from labplatform.routes.sessions import done_steps, read_step
from labplatform.sessions.db import StepDone

HIDDEN_SUFFIXES = (".yaml", ".json", ".md", ".sh")  # course sources and solutions stay private


def course_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def catalog(request: Request) -> HTMLResponse:
        platform = platform_of(request)
        return platform.page(
            request,
            "catalog.html",
            courses=discover_courses(platform.courses_dir),
            courses_dir=platform.courses_dir,
        )

    @router.get("/courses/{slug}", response_class=HTMLResponse)
    def course(request: Request, slug: str) -> HTMLResponse:
        platform = platform_of(request)
        found = platform.course(slug)
        learner = platform.identity.current(request)
        done: dict[str, int] = {}
        if learner is not None:
            with platform.db() as db:
                for mark in db.scalars(
                    select(StepDone).where(
                        StepDone.learner_id == learner.id, StepDone.course == slug
                    )
                ):
                    done[mark.lab] = done.get(mark.lab, 0) + 1
        return platform.page(request, "course.html", course=found, done=done)

    @router.get("/courses/{slug}/{lab_slug}")
    def lab_start(request: Request, slug: str, lab_slug: str) -> Response:
        platform = platform_of(request)
        lab = platform.lab(platform.course(slug), lab_slug)
        first = pages(lab)
        if not first:
            raise HTTPException(404, f"lab {lab_slug!r} has no pages")
        return RedirectResponse(f"/courses/{slug}/{lab_slug}/{first[0].slug}", status_code=307)

    @router.get("/courses/{slug}/{lab_slug}/{step_slug}", response_class=HTMLResponse)
    def lab_page(request: Request, slug: str, lab_slug: str, step_slug: str) -> HTMLResponse:
        platform = platform_of(request)
        course = platform.course(slug)
        lab = platform.lab(course, lab_slug)
        all_pages = pages(lab)
        index = next((i for i, p in enumerate(all_pages) if p.slug == step_slug), None)
        if index is None:
            raise HTTPException(404, f"lab {lab_slug!r} has no page {step_slug!r}")
        step = all_pages[index]
        learner = platform.identity.current(request)
        session = platform.sessions.live_session(learner.id, slug, lab_slug) if learner else None
        graded = bool(step.checks or step.verify)
        done = done_steps(platform, learner.id, slug, lab_slug) if learner else set()
        if session is not None and session.state == "ready":
            platform.sessions.viewed(session.id, step.slug)
            if step in lab.steps and not graded and step.slug not in done:
                read_step(platform, session.learner_id, slug, lab_slug, step.slug)
                done.add(step.slug)
        app_base = f"/sessions/{session.id}/app" if session else None
        renderer = StepRenderer(
            asset_url=lambda path: f"/courses/{slug}/files/{_relative(course, step, path)}",
            traffic_url=lambda host, port: f"{app_base}/{port}/" if app_base else f"#app-{port}",
        )
        return platform.page(
            request,
            "lab.html",
            course=course,
            lab=lab,
            step=step,
            html=renderer.render(step.text),
            index=index,
            pages=all_pages,
            previous=all_pages[index - 1] if index > 0 else None,
            next=all_pages[index + 1] if index + 1 < len(all_pages) else None,
            session=session,
            expires_in=round(platform.sessions.expires_in(session)) if session else 0,
            warn_seconds=round(platform.settings.warn_minutes * 60),
            done=done,
            gradable=graded and step in lab.steps,
            tabs=lab.tabs or [{"name": "App", "port": 80}],
        )

    @router.get("/api/dev/version")
    def content_changes(request: Request) -> dict[str, str]:
        """For ``serve --dev``: pages poll this and reload when an author saves a file."""
        platform = platform_of(request)
        if not platform.settings.dev:
            raise HTTPException(404, "only with serve --dev")
        return {"version": content_version(platform.courses_dir)}

    @router.get("/courses/{slug}/files/{path:path}")
    def course_file(request: Request, slug: str, path: str) -> FileResponse:
        course = platform_of(request).course(slug)
        root = course.path.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(404, "no such file in this course")
        if target.suffix in HIDDEN_SUFFIXES:
            raise HTTPException(404, "no such file in this course")
        return FileResponse(target)

    return router


def _relative(course: Course, step: Step, path: str) -> str:
    """An image path relative to its step, as a path inside the course folder."""
    target = (step.path.parent / path).resolve()
    root = course.path.resolve()
    return str(target.relative_to(root)) if target.is_relative_to(root) else path
