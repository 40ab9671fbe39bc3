"""Who is asking: learners who joined, instructors, and the checks on every request.

A browser is identified by a random token in an HTTP-only cookie; the
database keeps only its SHA-256, so a leaked database opens no session.
Requests that change anything must come from our own pages: their Origin
(or Referer) must be this server, and they must carry the learner's CSRF
token (a header from scripts, a form field from forms). Websockets get the
same Origin check, since browsers send cookies with them from any site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from labplatform.sessions.db import Learner

COOKIE = "labplatform"
CSRF_HEADER = "x-csrf-token"
MAX_NAME = 80


class JoinError(ValueError):
    """A join form that cannot be accepted; the message is shown beside the form."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Identity:
    db: sessionmaker[DbSession]
    event_code: str
    admin_token: str
    allow_anonymous: bool
    secure_cookies: bool

    def join(self, name: str, event: str) -> tuple[Learner, str]:
        """A new learner; returns it and the cookie token that will identify it."""
        name = " ".join(name.split())
        if not name:
            raise JoinError("Please give your name: the instructor sees it on the dashboard.")
        if len(name) > MAX_NAME:
            raise JoinError(f"A name of at most {MAX_NAME} characters, please.")
        if self.event_code and not hmac.compare_digest(event.strip(), self.event_code):
            raise JoinError("That event code is not right; your instructor has it.")
        return self._create(name, event.strip(), instructor=False)

    def anonymous(self) -> tuple[Learner, str]:
        return self._create(f"guest-{secrets.token_hex(3)}", "", instructor=False)

    def sign_in_instructor(self, token: str) -> tuple[Learner, str]:
        if not self.admin_token or not hmac.compare_digest(token.strip(), self.admin_token):
            raise JoinError("That admin token is not right (see data_dir/admin-token).")
        return self._create("instructor", "", instructor=True)

    def _create(self, name: str, event: str, instructor: bool) -> tuple[Learner, str]:
        token = secrets.token_urlsafe(32)
        learner = Learner(
            id=secrets.token_hex(8),
            name=name,
            event=event,
            instructor=instructor,
            token_hash=_digest(token),
            csrf=secrets.token_urlsafe(24),
        )
        with self.db.begin() as db:
            db.add(learner)
        return learner, token

    def current(self, connection: HTTPConnection) -> Learner | None:
        """The learner a request's or websocket's cookie names, if any (cached on it)."""
        if "learner" in connection.scope:
            return connection.scope["learner"]  # type: ignore[no-any-return]
        learner = self.from_token(connection.cookies.get(COOKIE, ""))
        connection.scope["learner"] = learner
        return learner

    def from_token(self, token: str) -> Learner | None:
        if not token:
            return None
        with self.db() as db:
            return db.scalars(select(Learner).where(Learner.token_hash == _digest(token))).first()

    def set_cookie(self, response: Response, token: str) -> None:
        """The browser keeps the token a month; scripts cannot read it (HTTP-only)."""
        response.set_cookie(
            COOKIE,
            token,
            max_age=30 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=self.secure_cookies,
        )

    def check_csrf(self, learner: Learner, presented: str) -> None:
        if not presented or not hmac.compare_digest(presented, learner.csrf):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def same_origin(headers: Headers, scheme: str) -> bool:
    """Whether a request comes from a page of this server (Origin, else Referer, vs Host)."""
    host = headers.get("host", "")
    source = headers.get("origin") or headers.get("referer")
    if not source:
        return False
    parts = urlsplit(source)
    return parts.netloc == host and parts.scheme in (scheme, scheme.replace("ws", "http"))


def require_same_origin(request: Request) -> None:
    if not same_origin(request.headers, request.url.scheme):
        raise HTTPException(403, "cross-site request refused: use the server's own pages")
