"""The course server's state, in tables: learners, sessions, clusters, progress, checks.

Everything that must survive a restart of the server lives here and nowhere
else (terminals and the pool's in-flight creations are rebuilt from it).
SQLite by default, with WAL so the dashboard can read while a check writes;
PostgreSQL by URL. Tables are created on first start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator


def now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Times stored in UTC and read back aware: SQLite would otherwise drop the zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class Learner(Base):
    """Someone who joined: a learner with a name and event code, or an instructor."""

    __tablename__ = "learners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    event: Mapped[str] = mapped_column(String(80), default="")
    instructor: Mapped[bool] = mapped_column(Boolean, default=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class LabSession(Base):
    """One learner working on one lab in one cluster.

    ``state`` moves starting -> ready -> ended, or starting -> failed. Only
    ended and failed sessions have ``ended_at``; a session counts against
    capacity until then.
    """

    __tablename__ = "lab_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    course: Mapped[str] = mapped_column(String(120))
    lab: Mapped[str] = mapped_column(String(120))
    cluster: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="starting", index=True)
    message: Mapped[str] = mapped_column(Text, default="")  # the last progress line or error
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_activity: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(40), default="")
    step: Mapped[str] = mapped_column(String(120), default="")  # the page last viewed
    from_pool: Mapped[bool] = mapped_column(Boolean, default=False)


class Cluster(Base):
    """A cluster the server made: warming or ready in the pool, or a session's."""

    __tablename__ = "clusters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # warming, ready, assigned
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class StepDone(Base):
    """A step a learner passed (its checks, or read it if it has none)."""

    __tablename__ = "progress"

    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), primary_key=True)
    course: Mapped[str] = mapped_column(String(120), primary_key=True)
    lab: Mapped[str] = mapped_column(String(120), primary_key=True)
    step: Mapped[str] = mapped_column(String(120), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CheckRun(Base):
    """One press of Check: every check's outcome, what it saw, and its hint."""

    __tablename__ = "check_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("lab_sessions.id"), index=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    course: Mapped[str] = mapped_column(String(120))
    lab: Mapped[str] = mapped_column(String(120))
    step: Mapped[str] = mapped_column(String(120))
    passed: Mapped[bool] = mapped_column(Boolean)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


def connect(url: str) -> sessionmaker[Any]:
    """A session factory for ``url``, with the tables created if missing."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL for readers beside a writer; wait rather than fail on a busy file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dispose(factory: sessionmaker[Any]) -> None:
    engine = factory.kw["bind"]
    assert isinstance(engine, Engine)
    engine.dispose()
