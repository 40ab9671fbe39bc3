"""Joining: learners by name and event code, instructors by the admin token."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from labplatform.identity import COOKIE, JoinError, require_same_origin
from labplatform.platform import platform_of


def _safe_next(target: str) -> str:
    """Only a path on this server: a join link must not bounce the learner elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def join_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/join")
    def join_form(request: Request, next: str = "/") -> Response:
        return platform_of(request).page(request, "join.html", next=_safe_next(next), error="")

    @router.post("/join")
    def join(
        request: Request, name: str = Form(""), event: str = Form(""), next: str = Form("/")
    ) -> Response:
        platform = platform_of(request)
        require_same_origin(request)
        try:
            _, token = platform.identity.join(name, event)
        except JoinError as exc:
            return platform.page(
                request, "join.html", status=400, next=_safe_next(next), error=str(exc), name=name
            )
        response = RedirectResponse(_safe_next(next), status_code=303)
        platform.identity.set_cookie(response, token)
        return response

    @router.get("/admin/login")
    def admin_form(request: Request) -> Response:
        return platform_of(request).page(request, "admin_login.html", error="")

    @router.post("/admin/login")
    def admin_login(request: Request, token: str = Form("")) -> Response:
        platform = platform_of(request)
        require_same_origin(request)
        try:
            _, cookie = platform.identity.sign_in_instructor(token)
        except JoinError as exc:
            return platform.page(request, "admin_login.html", status=403, error=str(exc))
        response = RedirectResponse("/admin", status_code=303)
        platform.identity.set_cookie(response, cookie)
        return response

    @router.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        platform = platform_of(request)
        require_same_origin(request)
        learner = platform.identity.current(request)
        if learner is not None:
            platform.identity.check_csrf(learner, csrf)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    return router
