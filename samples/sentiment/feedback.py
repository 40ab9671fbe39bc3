"""sa-feedback (port 80): whether a learner agreed with a polarity, kept in SQLite on a volume.

``POST /feedback {"sentence", "polarity", "correct"}`` stores one entry;
``GET /feedback`` lists the latest (``?limit=``, at most 200). The database
file lives on the pod's volume (``FEEDBACK_DB``), so a restarted container
still has it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from samples.service import application, json_body, serve, text_field

SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sentence TEXT NOT NULL, polarity REAL NOT NULL,
    correct INTEGER NOT NULL, created TEXT NOT NULL)"""


class Store:
    """One SQLite file; calls are serialised, as SQLite writes are anyway."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.lock = asyncio.Lock()

    async def add(self, sentence: str, polarity: float, correct: bool) -> dict[str, object]:
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        async with self.lock:
            cursor = self.db.execute(
                "INSERT INTO feedback (sentence, polarity, correct, created) VALUES (?, ?, ?, ?)",
                (sentence, polarity, int(correct), created),
            )
            self.db.commit()
        return {"id": cursor.lastrowid, "sentence": sentence, "polarity": polarity,
                "correct": correct, "created": created}  # fmt: skip

    async def latest(self, limit: int) -> list[dict[str, object]]:
        async with self.lock:
            rows = self.db.execute(
                "SELECT id, sentence, polarity, correct, created FROM feedback "
                "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()  # fmt: skip
        return [{"id": r[0], "sentence": r[1], "polarity": r[2], "correct": bool(r[3]),
                 "created": r[4]} for r in rows]  # fmt: skip


def create_app(database: Path) -> Starlette:
    store = Store(database)

    async def feedback(request: Request) -> Response:
        if request.method == "GET":
            limit = request.query_params.get("limit", "50")
            if not limit.isdigit() or not 1 <= int(limit) <= 200:
                raise HTTPException(400, '"limit" must be a whole number from 1 to 200')
            return JSONResponse({"feedback": await store.latest(int(limit))})
        body = await json_body(request)
        sentence = text_field(body, "sentence")
        polarity, correct = body.get("polarity"), body.get("correct")
        if (
            not isinstance(polarity, int | float)
            or isinstance(polarity, bool)
            or not (-1 <= polarity <= 1)
        ):
            raise HTTPException(400, '"polarity" is required: a number from -1 to 1')
        if not isinstance(correct, bool):
            raise HTTPException(400, '"correct" is required: true or false')
        return JSONResponse(await store.add(sentence, float(polarity), correct), status_code=201)

    return application("sa-feedback", [Route("/feedback", feedback, methods=["GET", "POST"])])


def main() -> None:
    database = Path(os.environ.get("FEEDBACK_DB", "/srv/feedback.db"))
    serve(create_app(database), "sa-feedback", 80)


if __name__ == "__main__":
    main()
