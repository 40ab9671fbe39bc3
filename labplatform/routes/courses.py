"""Course pages: the catalog, a course, and a lab read step by step.

Courses are read from disk on every request, so an author editing a step
sees the change on reload (``serve --dev`` needs nothing more). A lab page
renders one step; the terminal pane and the Check button join it with
learner sessions.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from labplatform import __version__
from labplatform.courses.discover import discover_courses, is_course, load
from labplatform.courses.markdown import StepRenderer
from labplatform.courses.model import Course, Lab, Step


def course_pages(courses_dir: Path, templates: Jinja2Templates) -> APIRouter:
    router = APIRouter()

    def page(request: Request, template: str, **context: object) -> HTMLResponse:
        return templates.TemplateResponse(
            request, template, {"version": __version__, "courses_dir": courses_dir, **context}
        )

    def find_course(slug: str) -> Course:
        folder = courses_dir / slug
        if "/" in slug or slug.startswith(".") or not is_course(folder):
            raise HTTPException(404, f"no course called {slug!r}")
        return load(folder)

    def find_lab(course: Course, slug: str) -> Lab:
        for lab in course.labs:
            if lab.slug == slug:
                return lab
        raise HTTPException(404, f"course {course.slug!r} has no lab {slug!r}")

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def catalog(request: Request) -> HTMLResponse:
        return page(request, "catalog.html", courses=discover_courses(courses_dir))

    @router.get("/courses/{slug}", response_class=HTMLResponse, include_in_schema=False)
    def course(request: Request, slug: str) -> HTMLResponse:
        return page(request, "course.html", course=find_course(slug))

    @router.get("/courses/{slug}/{lab_slug}", include_in_schema=False)
    def lab_start(slug: str, lab_slug: str) -> Response:
        lab = find_lab(find_course(slug), lab_slug)
        pages = _pages(lab)
        if not pages:
            raise HTTPException(404, f"lab {lab_slug!r} has no pages")
        return RedirectResponse(f"/courses/{slug}/{lab_slug}/{pages[0].slug}", status_code=307)

    @router.get(
        "/courses/{slug}/{lab_slug}/{step_slug}",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def lab_page(request: Request, slug: str, lab_slug: str, step_slug: str) -> HTMLResponse:
        course = find_course(slug)
        lab = find_lab(course, lab_slug)
        pages = _pages(lab)
        index = next((i for i, p in enumerate(pages) if p.slug == step_slug), None)
        if index is None:
            raise HTTPException(404, f"lab {lab_slug!r} has no page {step_slug!r}")
        renderer = StepRenderer(
            asset_url=lambda path: f"/courses/{slug}/files/{_relative(course, pages[index], path)}",
            traffic_url=lambda host, port: f"#app-{port}",
        )
        return page(
            request,
            "lab.html",
            course=course,
            lab=lab,
            step=pages[index],
            html=renderer.render(pages[index].text),
            index=index,
            pages=pages,
            previous=pages[index - 1] if index > 0 else None,
            next=pages[index + 1] if index + 1 < len(pages) else None,
        )

    @router.get("/courses/{slug}/files/{path:path}", include_in_schema=False)
    def course_file(slug: str, path: str) -> FileResponse:
        course = find_course(slug)
        root = course.path.resolve()
        target = (root / path).resolve()
        if (
            not target.is_relative_to(root)
            or not target.is_file()
            or target.suffix
            in (
                ".yaml",
                ".json",
                ".md",
                ".sh",
            )
        ):
            raise HTTPException(404, "no such file in this course")
        return FileResponse(target)

    return router


def _pages(lab: Lab) -> list[Step]:
    return [p for p in (lab.intro, *lab.steps, lab.finish) if p is not None]


def _relative(course: Course, step: Step, path: str) -> str:
    """An image path relative to its step, as a path inside the course folder."""
    target = (step.path.parent / path).resolve()
    root = course.path.resolve()
    return str(target.relative_to(root)) if target.is_relative_to(root) else path
