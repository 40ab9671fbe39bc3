"""The instructor's dashboard: every learner against every step, live; and ``/metrics``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select

from labplatform.platform import Platform, platform_of
from labplatform.sessions.db import CheckRun, LabSession, Learner, StepDone
from labplatform.sessions.manager import LIVE


@dataclass
class Row:
    learner: Learner
    session: LabSession | None = None  # the live one, if any
    cells: dict[str, str] = field(default_factory=dict)  # step -> done, failed


@dataclass
class LabBoard:
    course: str
    lab: str
    title: str
    steps: list[tuple[str, str]]  # slug, title
    rows: list[Row]


def boards(platform: Platform) -> list[LabBoard]:
    """One board per lab anyone has started, learners in the order they joined."""
    with platform.db() as db:
        sessions = db.scalars(select(LabSession).order_by(LabSession.created_at)).all()
        learners = {row.id: row for row in db.scalars(select(Learner))}
        done = db.scalars(select(StepDone)).all()
        failed = db.scalars(select(CheckRun).where(CheckRun.passed.is_(False))).all()
    by_lab: dict[tuple[str, str], dict[str, Row]] = defaultdict(dict)
    for session in sessions:
        row = by_lab[(session.course, session.lab)].setdefault(
            session.learner_id, Row(learners[session.learner_id])
        )
        if session.state in LIVE:
            row.session = session
    for run in failed:
        if failing := by_lab.get((run.course, run.lab), {}).get(run.learner_id):
            failing.cells[run.step] = "failed"
    for mark in done:
        if passing := by_lab.get((mark.course, mark.lab), {}).get(mark.learner_id):
            passing.cells[mark.step] = "done"
    result = []
    for (course, lab_slug), rows in sorted(by_lab.items()):
        lab = platform.lookup_lab(course, lab_slug)
        steps = [(s.slug, s.title) for s in lab.steps] if lab else []
        title = lab.title if lab else f"{course}/{lab_slug} (no longer in the catalog)"
        result.append(LabBoard(course, lab_slug, title, steps, list(rows.values())))
    return result


def dashboard_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/admin")
    def dashboard(request: Request) -> Response:
        platform = platform_of(request)
        learner = platform.identity.current(request)
        if learner is None or not learner.instructor:
            raise HTTPException(403, "instructors only: sign in at /admin/login")
        fragment = "fragment" in request.query_params
        template = "dashboard_board.html" if fragment else "dashboard.html"
        return platform.page(
            request, template, boards=boards(platform), counts=platform.sessions.counts()
        )

    @router.get("/metrics")
    def metrics(request: Request) -> Response:
        registry = platform_of(request).metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
