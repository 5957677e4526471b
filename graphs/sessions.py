"""The session index: which conversations exist, their titles and when they were last used.

Conversation *content* lives in the checkpointer; this index only makes listing cheap (the
checkpointer has no "list threads" query that scales). The graph records every user turn here
through its turn hook, so sessions started from `/ai`, `/agent` or the CLI are all listed.

Three implementations with the same semantics (the first title is kept, newest first, owner
filter, delete): SQLite beside the SQLite checkpoints, MongoDB beside the MongoDB checkpoints
(so that replicas share it), and memory for tests and the `memory` checkpointer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiosqlite
from pymongo.errors import DuplicateKeyError, PyMongoError

from core.mongodb import (
    SOCKET_TIMEOUT_S,
    IndexSpec,
    RecentOutage,
    client_kwargs,
    describe_mongodb,
    ensure_index_async,
    summarize_error,
)

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

    from core.settings import Settings

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

    # Last: below this line `list` names the method, not the builtin, for type checkers.
    async def list(self, owner: str | None = None, limit: int = 100) -> list[SessionSummary]:
        if owner is None:
            return await self._query("", (), limit)
        return await self._query("WHERE owner = ?", (owner,), limit)


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
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
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


# --------------------------------------------------------------------------------------------
# MongoDB
# --------------------------------------------------------------------------------------------

SESSIONS_COLLECTION = "sessions"
LAST_USED_FIELD = "last_used"  # a BSON date, for the optional TTL index (floats cannot expire)


def session_indexes(ttl_s: int | None) -> list[IndexSpec]:
    """The sessions collection's indexes: per-owner and global listing, and the optional TTL."""
    specs = [
        IndexSpec(SESSIONS_COLLECTION, (("owner", 1), ("updated_at", -1))),
        IndexSpec(SESSIONS_COLLECTION, (("updated_at", -1),)),
    ]
    if ttl_s is not None:
        specs.append(IndexSpec(SESSIONS_COLLECTION, ((LAST_USED_FIELD, 1),), expire_after_s=ttl_s))
    return specs


class MongoSessionIndex:
    """Session index in a MongoDB collection (`_id` = session id), through `AsyncMongoClient`.

    Shared by every replica on the same database, like the MongoDB checkpoints. Driver errors
    become `SessionIndexError` naming MongoDB and the host, never the password; after a
    connection failure, calls fail at once for `hold_s` (see `RecentOutage`).
    """

    def __init__(
        self, collection: AsyncCollection[Mapping[str, Any]], uri: str, hold_s: float = 0.0
    ) -> None:
        self._collection = collection
        self._uri = uri
        self._where = describe_mongodb(uri)
        self._outage = RecentOutage(hold_s)

    def _guard(self) -> None:
        recent = self._outage.recent()
        if recent is not None:
            raise SessionIndexError(recent)

    def _error(self, action: str, exc: Exception) -> SessionIndexError:
        message = (
            f"cannot {action} the session index on {self._where}: {summarize_error(exc, self._uri)}"
        )
        self._outage.record(exc, message)
        return SessionIndexError(message)

    async def record_turn(self, session_id: str, text: str, owner: str = "") -> None:
        now = time.time()
        update = {
            "$setOnInsert": {
                "title": make_title(text) or "New chat",
                "owner": owner,
                "created_at": now,
            },
            "$set": {"updated_at": now, LAST_USED_FIELD: datetime.now(UTC)},
        }
        self._guard()
        for attempt in range(2):
            try:
                await self._collection.update_one({"_id": session_id}, update, upsert=True)
                return
            except DuplicateKeyError as exc:  # two first turns raced to insert: update instead
                if attempt:
                    raise self._error("write", exc) from exc
            except PyMongoError as exc:
                raise self._error("write", exc) from exc

    async def get(self, session_id: str) -> SessionSummary | None:
        rows = await self._find({"_id": session_id}, 1)
        return rows[0] if rows else None

    async def delete(self, session_id: str) -> bool:
        self._guard()
        try:
            result = await self._collection.delete_one({"_id": session_id})
        except PyMongoError as exc:
            raise self._error("write", exc) from exc
        return result.deleted_count > 0

    async def ping(self) -> None:
        self._guard()
        try:
            await self._collection.database.command("ping")
        except PyMongoError as exc:
            raise self._error("reach", exc) from exc

    async def _find(self, query: dict[str, Any], limit: int) -> list[SessionSummary]:
        self._guard()
        try:
            cursor = self._collection.find(
                query, sort=[("updated_at", -1), ("created_at", -1)], limit=limit
            )
            docs = await cursor.to_list(None)
        except PyMongoError as exc:
            raise self._error("read", exc) from exc
        return [
            SessionSummary(
                str(doc["_id"]),
                str(doc.get("title", "")),
                float(doc.get("created_at", 0.0)),
                float(doc.get("updated_at", 0.0)),
                str(doc.get("owner", "")),
            )
            for doc in docs
        ]

    # Last: below this line `list` names the method, not the builtin, for type checkers.
    async def list(self, owner: str | None = None, limit: int = 100) -> list[SessionSummary]:
        return await self._find({} if owner is None else {"owner": owner}, limit)


@asynccontextmanager
async def open_mongo_session_index(settings: Settings) -> AsyncIterator[MongoSessionIndex]:
    """Connect with `AsyncMongoClient`, ensure the indexes, yield the index, close the client."""
    from pymongo import AsyncMongoClient

    secret = settings.mongodb_uri.get_secret_value().strip() if settings.mongodb_uri else ""
    if not secret:
        raise SessionIndexError(
            "the session index on MongoDB needs MONGODB_URI (alias DB_CONNECTION_STRING)"
        )
    timeout_s = settings.mongodb_timeout_s
    client: AsyncMongoClient[Mapping[str, Any]] = AsyncMongoClient(
        secret, **client_kwargs(secret, timeout_s, socket_timeout_s=SOCKET_TIMEOUT_S)
    )
    try:
        database = client[settings.mongodb_database]
        try:
            for spec in session_indexes(settings.checkpoint_ttl_s):
                await ensure_index_async(database, spec)
        except PyMongoError as exc:
            raise SessionIndexError(
                f"cannot open the session index on {describe_mongodb(secret)}: "
                f"{summarize_error(exc, secret)}"
            ) from exc
        yield MongoSessionIndex(database[SESSIONS_COLLECTION], secret, hold_s=timeout_s)
    finally:
        await client.close()
