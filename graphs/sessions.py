"""The session index: which conversations exist, their titles and when they were last used.

Conversation *content* lives in the checkpointer; this index only makes listing cheap (the
checkpointer has no "list threads" query that scales). The graph records every user turn here
through its turn hook, so sessions started from `/ai`, `/agent` or the CLI are all listed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosqlite

TITLE_MAX_CHARS = 60


class SessionIndexError(RuntimeError):
    """The session index cannot be read or written. Maps to HTTP 503."""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    session_id: str
    title: str
    created_at: float
    updated_at: float
    owner: str


def make_title(text: str) -> str:
    """The first question, on one line, shortened at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= TITLE_MAX_CHARS:
        return flat
    cut = flat[: TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0] or flat[: TITLE_MAX_CHARS - 1]
    return cut.rstrip(" ,.;:") + "…"


class SessionIndex(Protocol):
    async def record_turn(self, session_id: str, text: str, owner: str = "") -> None:
        """Create the session titled by `text` if new, else bump its `updated_at`."""
        ...

    async def get(self, session_id: str) -> SessionSummary | None: ...

    async def list(self, owner: str | None = None, limit: int = 100) -> list[SessionSummary]:
        """Newest first; only `owner`'s sessions when given."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def ping(self) -> None: ...


class SqliteSessionIndex:
    """Session index in a small SQLite file beside the checkpoints (WAL, one connection)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def record_turn(self, session_id: str, text: str, owner: str = "") -> None:
        now = time.time()
        try:
            await self._conn.execute(
                "INSERT INTO sessions (session_id, title, owner, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(session_id) DO UPDATE SET updated_at = excluded.updated_at",
                (session_id, make_title(text) or "New chat", owner, now, now),
            )
            await self._conn.commit()
        except Exception as exc:  # aiosqlite/sqlite3 errors
            raise SessionIndexError(f"cannot write the session index: {exc}") from exc

    async def get(self, session_id: str) -> SessionSummary | None:
        rows = await self._query("WHERE session_id = ?", (session_id,), 1)
        return rows[0] if rows else None

    async def list(self, owner: str | None = None, limit: int = 100) -> list[SessionSummary]:
        if owner is None:
            return await self._query("", (), limit)
        return await self._query("WHERE owner = ?", (owner,), limit)

    async def delete(self, session_id: str) -> bool:
        try:
            cursor = await self._conn.execute(
                "DELETE FROM sessions WHERE session_id = ?", (session_id,)
            )
            await self._conn.commit()
        except Exception as exc:
            raise SessionIndexError(f"cannot write the session index: {exc}") from exc
        return cursor.rowcount > 0

    async def ping(self) -> None:
        try:
            await self._conn.execute("SELECT 1")
        except Exception as exc:
            raise SessionIndexError(f"session index unreachable: {exc}") from exc

    async def _query(self, where: str, params: tuple[str, ...], limit: int) -> list[SessionSummary]:
        sql = (
            "SELECT session_id, title, created_at, updated_at, owner FROM sessions "
            f"{where} ORDER BY updated_at DESC, created_at DESC LIMIT ?"
        )
        try:
            async with self._conn.execute(sql, (*params, limit)) as cursor:
                rows = await cursor.fetchall()
        except Exception as exc:
            raise SessionIndexError(f"cannot read the session index: {exc}") from exc
        return [
            SessionSummary(str(r[0]), str(r[1]), float(r[2]), float(r[3]), str(r[4])) for r in rows
        ]


class MemorySessionIndex:
    """In-process index for tests and the `memory` checkpointer."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionSummary] = {}

    async def record_turn(self, session_id: str, text: str, owner: str = "") -> None:
        now = time.time()
        existing = self._sessions.get(session_id)
        if existing is None:
            self._sessions[session_id] = SessionSummary(
                session_id, make_title(text) or "New chat", now, now, owner
            )
        else:
            self._sessions[session_id] = SessionSummary(
                session_id, existing.title, existing.created_at, now, existing.owner
            )

    async def get(self, session_id: str) -> SessionSummary | None:
        return self._sessions.get(session_id)

    async def list(self, owner: str | None = None, limit: int = 100) -> list[SessionSummary]:
        items = [s for s in self._sessions.values() if owner is None or s.owner == owner]
        items.sort(key=lambda s: (s.updated_at, s.created_at), reverse=True)
        return items[:limit]

    async def delete(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    async def ping(self) -> None:
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_owner_updated ON sessions (owner, updated_at DESC);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated_at DESC);
"""


@asynccontextmanager
async def open_sqlite_session_index(path: Path) -> AsyncIterator[SqliteSessionIndex]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path))
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.executescript(_SCHEMA)
        await conn.commit()
    except Exception as exc:
        raise SessionIndexError(f"cannot open the session index at {path}: {exc}") from exc
    try:
        yield SqliteSessionIndex(conn)
    finally:
        await conn.close()
