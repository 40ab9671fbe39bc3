"""The life of a lab session: start, set up, keep alive, expire, end; and the warm pool.

A session starts from a pre-warmed cluster when the pool has one, or from a
new one, and runs the lab's setup scripts before the learner gets a shell.
It lasts while the learner is active: every keystroke, page and Check resets
an idle timer (``idle_minutes``), and Extend resets it by hand; the page
shows the countdown and warns ``warn_minutes`` before the end. A session also
ends at ``max_minutes`` whatever happens, so a forgotten tab cannot hold an
environment for ever.

Everything is in the database, so the server may die at any moment: on the
next start :meth:`SessionManager.recover` keeps sessions whose cluster still
runs, restarts interrupted set-ups, and deletes every cluster that belongs
to nobody (a half-made pool cluster, the cluster of a session that ended
while the server was down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from labplatform.clusters.backend import ClusterBackend
from labplatform.courses.model import Lab
from labplatform.sessions.db import Cluster, LabSession, now
from labplatform.sessions.metrics import PlatformMetrics
from labplatform.sessions.setup import prepare
from terminals.pty import TerminalManager

log = logging.getLogger(__name__)

CLUSTER_PREFIX = "lp-"  # the clusters this server made; others in the data dir are left alone
LIVE = ("starting", "ready")
REAP_INTERVAL = 2.0
ACTIVITY_WRITE_INTERVAL = 10.0  # seconds between writes of last_activity for one session


@dataclass(frozen=True)
class Limits:
    """How long sessions last and how many may run; see :class:`Settings`."""

    max_sessions: int = 8
    pool_size: int = 1
    idle_minutes: float = 30.0
    warn_minutes: float = 5.0
    max_minutes: float = 240.0


class CapacityError(RuntimeError):
    """Every environment is in use; the message says when one frees up."""


class SessionManager:
    def __init__(
        self,
        db: sessionmaker[DbSession],
        backend: ClusterBackend,
        limits: Limits,
        terminals: TerminalManager,
        metrics: PlatformMetrics,
        find_lab: Callable[[str, str], Lab | None],
        forget_cluster: Callable[[str], Awaitable[None]],
    ) -> None:
        self.db = db
        self.backend = backend
        self.limits = limits
        self.terminals = terminals
        self.metrics = metrics
        self.find_lab = find_lab  # courses are read from disk, so a restart finds the same labs
        self.forget_cluster = forget_cluster  # what the server keeps per cluster (app tab clients)
        self.progress: dict[str, list[str]] = {}  # session id -> lines shown while it starts
        self._tasks: set[asyncio.Task[None]] = set()
        self._pool_wakeup = asyncio.Event()
        self._last_write: dict[str, float] = {}

    # -- the server's own lifecycle ------------------------------------------

    async def run(self) -> None:
        """Recover, then keep the pool full and reap expired sessions until cancelled."""
        await self.recover()
        self._spawn(self._pool_loop(), "pool")
        try:
            while True:
                await self.reap()
                await asyncio.sleep(REAP_INTERVAL)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.terminals.close_all()

    async def recover(self) -> None:
        """Bring the database and the backend back into agreement after a start."""
        present = await asyncio.to_thread(self.backend.names)
        up = await asyncio.to_thread(lambda: {n for n in present if self.backend.running(n)})
        doomed: set[str] = set()
        restart: list[str] = []
        with self.db.begin() as db:
            live = set(db.scalars(select(LabSession.id).where(LabSession.state.in_(LIVE))))
            for cluster in db.scalars(select(Cluster)):
                ownerless = cluster.session_id is not None and cluster.session_id not in live
                if cluster.state == "warming" or cluster.name not in up or ownerless:
                    # half made for the pool, stopped, or its session ended before it was deleted
                    doomed.add(cluster.name)
                    db.delete(cluster)
            for session in db.scalars(select(LabSession).where(LabSession.state.in_(LIVE))):
                if session.state == "starting":
                    if session.cluster:
                        doomed.add(session.cluster)
                        session.cluster = None
                    restart.append(session.id)
                elif session.cluster not in up:
                    self._finish(db, session, "failed", "lost", "its cluster stopped meanwhile")
            kept = {c.name for c in db.scalars(select(Cluster))}
        orphans = {n for n in present if n.startswith(CLUSTER_PREFIX)} - kept
        for name in sorted(doomed | orphans):
            log.info("deleting a cluster nobody owns", extra={"cluster": name})
            await self._delete_cluster(name)
        for session_id in restart:
            log.info("restarting an interrupted set-up", extra={"session": session_id})
            self._spawn(self._provision(session_id), f"provision {session_id}")

    # -- sessions ------------------------------------------------------------

    def live_session(self, learner_id: str, course: str, lab: str) -> LabSession | None:
        with self.db() as db:
            return db.scalars(
                select(LabSession).where(
                    LabSession.learner_id == learner_id,
                    LabSession.course == course,
                    LabSession.lab == lab,
                    LabSession.state.in_(LIVE),
                )
            ).first()

    def get(self, session_id: str) -> LabSession | None:
        with self.db() as db:
            return db.get(LabSession, session_id)

    def begin(self, learner_id: str, course: str, lab: Lab, step: str = "") -> LabSession:
        """The learner's live session of ``lab``, or a new one, started in the background.

        A learner has at most one live session: starting a different lab
        ends the previous one, since its cluster is what they would use.
        """
        existing = self.live_session(learner_id, course, lab.slug)
        if existing is not None:
            return existing
        with self.db.begin() as db:
            for other in db.scalars(
                select(LabSession).where(
                    LabSession.learner_id == learner_id, LabSession.state.in_(LIVE)
                )
            ):
                self._finish(db, other, "ended", "switched", "the learner started another lab")
                self._spawn(self._release(other.id, other.cluster), f"release {other.id}")
            if _live_count(db) >= self.limits.max_sessions:
                self.metrics.full.inc()
                raise CapacityError(self._full_message(db))
            moment = now()
            session = LabSession(
                id=secrets.token_hex(8),
                learner_id=learner_id,
                course=course,
                lab=lab.slug,
                state="starting",
                message="waiting for a cluster",
                created_at=moment,
                last_activity=moment,
                expires_at=moment + timedelta(minutes=self.limits.idle_minutes),
                step=step,  # where the learner pressed Start: they return there when it is ready
            )
            db.add(session)
        log.info(
            "session starting",
            extra={"session": session.id, "learner": learner_id, "lab": f"{course}/{lab.slug}"},
        )
        self._spawn(self._provision(session.id), f"provision {session.id}")
        return session

    def touch(self, session_id: str) -> None:
        """The learner did something: the idle timer starts again (written at most every 10 s)."""
        moment = time.monotonic()
        if moment - self._last_write.get(session_id, 0.0) < ACTIVITY_WRITE_INTERVAL:
            return
        self._last_write[session_id] = moment
        self.extend(session_id)

    def extend(self, session_id: str) -> LabSession | None:
        with self.db.begin() as db:
            session = db.get(LabSession, session_id)
            if session is not None and session.state in LIVE:
                self._restart_timer(session)
            return session

    def _restart_timer(self, session: LabSession) -> None:
        """Idle time counts from now (activity, Extend, or the moment set-up finished)."""
        moment = now()
        session.last_activity = moment
        session.expires_at = min(
            moment + timedelta(minutes=self.limits.idle_minutes),
            session.created_at + timedelta(minutes=self.limits.max_minutes),
        )

    def viewed(self, session_id: str, step: str) -> None:
        with self.db.begin() as db:
            session = db.get(LabSession, session_id)
            if session is not None and session.state in LIVE:
                session.step = step
        self.touch(session_id)

    async def end(self, session_id: str, reason: str) -> None:
        """End a session now: its terminals close and its cluster is deleted."""
        with self.db.begin() as db:
            session = db.get(LabSession, session_id)
            if session is None or session.state not in LIVE:
                return
            cluster = session.cluster
            self._finish(db, session, "ended", reason, f"ended: {reason}")
        await self._release(session_id, cluster)

    async def reap(self) -> None:
        """End every session past its expiry time."""
        with self.db() as db:
            expired = db.scalars(
                select(LabSession.id).where(
                    LabSession.state.in_(LIVE), LabSession.expires_at <= now()
                )
            ).all()
        for session_id in expired:
            log.info("session expired", extra={"session": session_id})
            await self.end(session_id, "idle")

    def counts(self) -> dict[str, dict[str, int]]:
        """Sessions and pool clusters by state, and live terminals (for /metrics)."""
        with self.db() as db:
            sessions = dict(
                db.execute(select(LabSession.state, func.count()).group_by(LabSession.state)).all()
            )
            pool = dict(
                db.execute(
                    select(Cluster.state, func.count())
                    .where(Cluster.session_id.is_(None))
                    .group_by(Cluster.state)
                ).all()
            )
        return {
            "labplatform_sessions": {s: sessions.get(s, 0) for s in (*LIVE, "ended", "failed")},
            "labplatform_pool_clusters": {s: pool.get(s, 0) for s in ("warming", "ready")},
            "labplatform_terminals": {"shell": len(self.terminals.names())},
        }

    def warning(self, session: LabSession) -> bool:
        return session.expires_at - now() <= timedelta(minutes=self.limits.warn_minutes)

    # -- internals -----------------------------------------------------------

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _say(self, session_id: str, line: str) -> None:
        self.progress.setdefault(session_id, []).append(line)
        with self.db.begin() as db:
            session = db.get(LabSession, session_id)
            if session is not None:
                session.message = line

    async def _provision(self, session_id: str) -> None:
        began = time.monotonic()
        try:
            cluster, from_pool = await self._acquire(session_id)
            session = self.get(session_id)
            assert session is not None
            lab = self.find_lab(session.course, session.lab)
            if lab is None:
                raise RuntimeError(f"lab {session.course}/{session.lab} is gone from the catalog")
            say = _from_thread(lambda line: self._say(session_id, line))
            await asyncio.to_thread(prepare, self.backend, cluster, lab, say)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure reaches the learner's status page
            log.exception("session failed to start", extra={"session": session_id})
            self.metrics.errors.labels("start").inc()
            with self.db.begin() as db:
                failed = db.get(LabSession, session_id)
                if failed is None or failed.state != "starting":
                    return
                self._finish(db, failed, "failed", "failed", f"could not start: {exc}")
            await self._release(session_id, failed.cluster, keep_progress=True)
            return
        with self.db.begin() as db:
            session = db.get(LabSession, session_id)
            if session is None or session.state != "starting":  # ended while starting
                return
            session.state = "ready"
            session.ready_at = now()
            session.from_pool = from_pool
            session.message = "ready"
            self._restart_timer(session)
        seconds = time.monotonic() - began
        self.metrics.session_start.labels("pool" if from_pool else "cold").observe(seconds)
        log.info(
            "session ready",
            extra={"session": session_id, "cluster": cluster, "seconds": round(seconds, 2)},
        )

    async def _acquire(self, session_id: str) -> tuple[str, bool]:
        """A ready pool cluster, else a new one; recorded as the session's before use."""
        with self.db.begin() as db:
            pooled = db.scalars(
                select(Cluster)
                .where(Cluster.state == "ready", Cluster.session_id.is_(None))
                .order_by(Cluster.created_at)
                .limit(1)
            ).first()
            session = db.get(LabSession, session_id)
            assert session is not None
            if pooled is not None:
                pooled.state = "assigned"
                pooled.session_id = session_id
                session.cluster = pooled.name
        self._pool_wakeup.set()
        if pooled is not None:
            self._say(session_id, f"took the ready cluster {pooled.name} from the pool")
            return pooled.name, True
        name = f"{CLUSTER_PREFIX}{secrets.token_hex(5)}"
        with self.db.begin() as db:
            db.add(Cluster(name=name, state="assigned", session_id=session_id))
            session = db.get(LabSession, session_id)
            assert session is not None
            session.cluster = name
        self._say(session_id, f"creating cluster {name} (no ready cluster in the pool)")
        await self._create(name, lambda line: self._say(session_id, line))
        return name, False

    async def _create(self, name: str, say: Callable[[str], None]) -> None:
        await asyncio.to_thread(self.backend.create, name, _from_thread(say))

    async def _release(
        self, session_id: str, cluster: str | None, keep_progress: bool = False
    ) -> None:
        """Close the session's shells and delete its cluster; a failed start keeps its story."""
        for name in self.terminals.names():
            if name.startswith(f"{session_id}/"):
                await self.terminals.close(name)
        self._last_write.pop(session_id, None)
        if not keep_progress:
            self.progress.pop(session_id, None)
        if cluster:
            await self._delete_cluster(cluster)
        self._pool_wakeup.set()

    async def _delete_cluster(self, name: str) -> None:
        try:
            await asyncio.to_thread(self.backend.delete, name)
        except Exception:
            log.exception("could not delete a cluster", extra={"cluster": name})
            self.metrics.errors.labels("delete").inc()
            return
        with self.db.begin() as db:
            db.execute(delete(Cluster).where(Cluster.name == name))
        await self.forget_cluster(name)

    def _finish(
        self, db: DbSession, session: LabSession, state: str, reason: str, message: str
    ) -> None:
        session.state = state
        session.end_reason = reason
        session.ended_at = now()
        session.message = message
        self.metrics.sessions_ended.labels(reason).inc()
        log.info("session ended", extra={"session": session.id, "reason": reason})

    def _full_message(self, db: DbSession) -> str:
        soonest = db.scalar(
            select(func.min(LabSession.expires_at)).where(LabSession.state.in_(LIVE))
        )
        wait = ""
        if soonest is not None:
            minutes = max(1, round((soonest - now()).total_seconds() / 60))
            plural = "s" if minutes != 1 else ""
            wait = f" The next one frees up in at most {minutes} minute{plural}."
        return (
            f"All {self.limits.max_sessions} lab environments on this server are in use.{wait}"
            " Your progress is saved; try again then."
        )

    async def _pool_loop(self) -> None:
        """Keep ``pool_size`` clusters warming or ready, within capacity, one at a time."""
        while True:
            self._pool_wakeup.clear()
            name = self._pool_slot()
            if name is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pool_wakeup.wait(), 30)
                continue
            began = time.monotonic()
            try:
                await self._create(name, log.debug)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a pool cluster failed to start", extra={"cluster": name})
                self.metrics.errors.labels("pool").inc()
                await self._delete_cluster(name)
                await asyncio.sleep(10)  # do not spin on a host that cannot make clusters
                continue
            with self.db.begin() as db:
                cluster = db.get(Cluster, name)
                if cluster is not None:
                    cluster.state = "ready"
            log.info(
                "pool cluster ready",
                extra={"cluster": name, "seconds": round(time.monotonic() - began, 2)},
            )

    def _pool_slot(self) -> str | None:
        """A name for the next pool cluster, recorded as warming; None if the pool is full."""
        with self.db.begin() as db:
            pooled = (
                db.scalar(
                    select(func.count()).select_from(Cluster).where(Cluster.session_id.is_(None))
                )
                or 0
            )
            if (
                pooled >= self.limits.pool_size
                or pooled + _live_count(db) >= self.limits.max_sessions
            ):
                return None
            name = f"{CLUSTER_PREFIX}{secrets.token_hex(5)}"
            db.add(Cluster(name=name, state="warming"))
            return name

    def expires_in(self, session: LabSession) -> float:
        return max(0.0, (session.expires_at - now()).total_seconds())


def _from_thread(say: Callable[[str], None]) -> Callable[[str], None]:
    """A progress callback for a worker thread; ``say`` runs on this event loop."""
    loop = asyncio.get_running_loop()

    def call(line: str) -> None:
        loop.call_soon_threadsafe(say, line)

    return call


def _live_count(db: DbSession) -> int:
    return (
        db.scalar(select(func.count()).select_from(LabSession).where(LabSession.state.in_(LIVE)))
        or 0
    )
