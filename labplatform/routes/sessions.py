"""Lab sessions over HTTP: start, watch it start, extend, stop, reset, Check; terminals; app tabs.

A session is reachable only by the learner who owns it: every route here
loads it through :func:`_own`, which answers 404 for anyone else's, so a
session id reveals nothing. Requests that change state need the learner's
CSRF token and must come from our pages (Origin); websockets are checked
for Origin and owner before they are accepted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, WebSocket
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy import select
from starlette.requests import HTTPConnection

from labplatform.clusters.backend import ClusterError
from labplatform.identity import CSRF_HEADER, require_same_origin, same_origin
from labplatform.platform import Platform, pages, platform_of
from labplatform.sessions.db import CheckRun, LabSession, Learner, StepDone
from labplatform.sessions.grading import grade_in
from labplatform.sessions.manager import CapacityError
from terminals.websocket import serve_terminal

log = logging.getLogger(__name__)

MAX_TERMINALS = 4
NOT_YOURS = "no such session (or not yours)"


def session_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post("/courses/{course}/{lab}/start")
    async def start(
        request: Request, course: str, lab: str, csrf: str = Form(""), step: str = Form("")
    ) -> Response:
        """Start (or resume) this lab; anonymous learners get an identity here if allowed."""
        platform = platform_of(request)
        require_same_origin(request)
        found = platform.lab(platform.course(course), lab)
        learner = platform.identity.current(request)
        token = None
        if learner is None:
            if not platform.settings.allow_anonymous:
                return RedirectResponse(f"/join?next=/courses/{course}/{lab}", status_code=303)
            learner, token = platform.identity.anonymous()
        else:
            platform.identity.check_csrf(learner, csrf)
        try:
            known = {page.slug for page in pages(found)}
            session = platform.sessions.begin(
                learner.id, course, found, step if step in known else ""
            )
        except CapacityError as exc:
            return platform.page(request, "full.html", status=503, message=str(exc))
        response = RedirectResponse(f"/sessions/{session.id}", status_code=303)
        if token is not None:
            platform.identity.set_cookie(response, token)
        return response

    @router.get("/sessions/{session_id}", response_class=HTMLResponse)
    def status_page(request: Request, session_id: str) -> Response:
        platform = platform_of(request)
        _, session = _own(request, session_id)
        if session.state == "ready" and "stay" not in request.query_params:
            return RedirectResponse(_lab_url(platform, session), status_code=303)
        return platform.page(
            request,
            "session.html",
            session=session,
            lines=platform.sessions.progress.get(session.id, []),
            lab_url=_lab_url(platform, session),
        )

    @router.get("/api/sessions/{session_id}")
    def status(request: Request, session_id: str) -> dict[str, Any]:
        platform = platform_of(request)
        _, session = _own(request, session_id)
        return _describe(platform, session)

    @router.post("/api/sessions/{session_id}/extend")
    def extend(request: Request, session_id: str) -> dict[str, Any]:
        platform = platform_of(request)
        _changing(request, session_id)
        session = platform.sessions.extend(session_id)
        assert session is not None
        return _describe(platform, session)

    @router.post("/api/sessions/{session_id}/stop")
    async def stop(request: Request, session_id: str) -> dict[str, Any]:
        platform = platform_of(request)
        _changing(request, session_id)
        await platform.sessions.end(session_id, "stopped")
        session = platform.sessions.get(session_id)
        assert session is not None
        return _describe(platform, session)

    @router.post("/api/sessions/{session_id}/reset")
    async def reset(request: Request, session_id: str) -> JSONResponse:
        """A fresh cluster for the same lab; the learner's progress stays."""
        platform = platform_of(request)
        learner, session = _changing(request, session_id)
        await platform.sessions.end(session_id, "reset")
        lab = platform.lab(platform.course(session.course), session.lab)
        try:
            fresh = platform.sessions.begin(learner.id, session.course, lab, session.step)
        except CapacityError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse({"id": fresh.id, "status_url": f"/sessions/{fresh.id}"})

    @router.post("/api/sessions/{session_id}/check/{step_slug}")
    async def check(request: Request, session_id: str, step_slug: str) -> dict[str, Any]:
        platform = platform_of(request)
        learner, session = _changing(request, session_id)
        if session.state != "ready" or not session.cluster:
            raise HTTPException(409, f"the session is {session.state}, not ready")
        lab = platform.lab(platform.course(session.course), session.lab)
        step = next((s for s in lab.steps if s.slug == step_slug), None)
        if step is None:
            raise HTTPException(404, f"lab {lab.slug!r} has no step {step_slug!r}")
        platform.sessions.touch(session_id)
        results = await asyncio.to_thread(grade_in, step, platform.backend, session.cluster)
        passed = bool(results) and all(r.passed for r in results)
        platform.metrics.checks.labels("passed" if passed else "failed").inc()
        with platform.db.begin() as db:
            db.add(
                CheckRun(
                    session_id=session_id,
                    learner_id=learner.id,
                    course=session.course,
                    lab=session.lab,
                    step=step_slug,
                    passed=passed,
                    results=[asdict(r) for r in results],
                )
            )
            if passed:
                db.merge(StepDone(learner_id=learner.id, course=session.course,
                                  lab=session.lab, step=step_slug))  # fmt: skip
        log.info(
            "check",
            extra={"session": session_id, "step": step_slug, "passed": passed},
        )
        done = done_steps(platform, learner.id, session.course, session.lab)
        return {
            "passed": passed,
            "results": [asdict(r) for r in results],
            "done": sorted(done),
            "total": len(lab.steps),
        }

    @router.websocket("/sessions/{session_id}/terminals/{number}")
    async def terminal(websocket: WebSocket, session_id: str, number: int) -> None:
        platform: Platform = websocket.app.state.platform
        session = await _own_websocket(websocket, session_id)
        if session is None:
            return
        if not 1 <= number <= MAX_TERMINALS or session.state != "ready" or not session.cluster:
            await _refuse(websocket, 409, "no such terminal, or the session is not ready")
            return
        name = f"{session.id}/{number}"
        fresh = platform.terminals.get(name) is None
        try:
            argv = platform.backend.shell_command(session.cluster)
        except ClusterError as exc:
            await _refuse(websocket, 503, f"the lab's cluster is not running: {exc}")
            return
        term = platform.terminals.open(name, argv)
        if fresh and number == 1:
            lab = platform.lookup_lab(session.course, session.lab)
            for script in lab.foreground if lab else []:  # Killercoda's foreground scripts
                term.write(f"bash <<'FOREGROUND'\n{script.read_text()}\nFOREGROUND\n")
        await websocket.accept()
        await serve_terminal(websocket, term, on_input=lambda: platform.sessions.touch(session_id))

    @router.api_route(
        "/sessions/{session_id}/app/{port}/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    )
    async def app_http(request: Request, session_id: str, port: int, path: str) -> Response:
        platform = platform_of(request)
        _, session = _own(request, session_id)
        if session.state != "ready" or not session.cluster:
            raise HTTPException(409, f"the session is {session.state}: start the lab first")
        platform.sessions.touch(session_id)
        api = platform.backend.api(session.cluster)
        prefix = f"/sessions/{session_id}/app/{port}"
        return await platform.proxy.http(request, session.cluster, api, prefix, port, path)

    @router.get("/sessions/{session_id}/app/{port}")
    def app_root(session_id: str, port: int) -> Response:
        return RedirectResponse(f"/sessions/{session_id}/app/{port}/", status_code=307)

    @router.websocket("/sessions/{session_id}/app/{port}/{path:path}")
    async def app_websocket(websocket: WebSocket, session_id: str, port: int, path: str) -> None:
        platform: Platform = websocket.app.state.platform
        session = await _own_websocket(websocket, session_id)
        if session is None:
            return
        if session.state != "ready" or not session.cluster:
            await _refuse(websocket, 409, "the session is not ready")
            return
        api = platform.backend.api(session.cluster)
        await platform.proxy.websocket(websocket, api, port, path)

    return router


def read_step(platform: Platform, learner_id: str, course: str, lab: str, step: str) -> None:
    """A step with nothing to check is done once a learner has opened it in their session."""
    with platform.db.begin() as db:
        db.merge(StepDone(learner_id=learner_id, course=course, lab=lab, step=step))


def done_steps(platform: Platform, learner_id: str, course: str, lab: str) -> set[str]:
    with platform.db() as db:
        return set(
            db.scalars(
                select(StepDone.step).where(
                    StepDone.learner_id == learner_id,
                    StepDone.course == course,
                    StepDone.lab == lab,
                )
            )
        )


def _lab_url(platform: Platform, session: LabSession) -> str:
    base = f"/courses/{session.course}/{session.lab}"
    return f"{base}/{session.step}" if session.step else base


def _describe(platform: Platform, session: LabSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "state": session.state,
        "message": session.message,
        "progress": platform.sessions.progress.get(session.id, []),
        "expires_in": round(platform.sessions.expires_in(session)),
        "warning": session.state == "ready" and platform.sessions.warning(session),
        "lab_url": _lab_url(platform, session),
        "end_reason": session.end_reason,
    }


def _owned(connection: HTTPConnection, session_id: str) -> tuple[Learner, LabSession] | None:
    """The session and its learner, if the cookie on ``connection`` is that learner's."""
    platform: Platform = connection.app.state.platform
    learner = platform.identity.current(connection)
    session = platform.sessions.get(session_id)
    if learner is None or session is None or session.learner_id != learner.id:
        return None
    return learner, session


def _own(request: Request, session_id: str) -> tuple[Learner, LabSession]:
    owned = _owned(request, session_id)
    if owned is None:
        raise HTTPException(404, NOT_YOURS)
    return owned


def _changing(request: Request, session_id: str) -> tuple[Learner, LabSession]:
    """The learner's own session, for a request that changes it: origin and CSRF checked."""
    require_same_origin(request)
    learner, session = _own(request, session_id)
    platform_of(request).identity.check_csrf(learner, request.headers.get(CSRF_HEADER, ""))
    return learner, session


async def _own_websocket(websocket: WebSocket, session_id: str) -> LabSession | None:
    """The session if this websocket's page is ours and its learner owns it; else refused."""
    platform: Platform = websocket.app.state.platform
    if not same_origin(websocket.headers, websocket.url.scheme):
        await _refuse(websocket, 403, "cross-site websocket refused")
        return None
    owned = _owned(websocket, session_id)
    if owned is None:
        await _refuse(websocket, 404, NOT_YOURS)
        return None
    platform.sessions.touch(session_id)
    return owned[1]


async def _refuse(websocket: WebSocket, status: int, reason: str) -> None:
    """Refuse the handshake with an HTTP status and a reason the client can read."""
    await websocket.send_denial_response(PlainTextResponse(reason, status_code=status))
