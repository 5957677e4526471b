"""Conversation checkpoints in MongoDB: langgraph-checkpoint-mongodb's `MongoDBSaver`, guarded.

Why a wrapper rather than the saver as shipped:

* **Built off the event loop, in the lifespan.** `MongoDBSaver` is synchronous and talks to the
  server in its constructor (it lists, and if needed creates, its indexes). It is built here in
  `asyncio.to_thread`, never at import, and its client is closed with the context.
* **Async through a thread pool.** Its `aget_tuple`/`aput`/`aput_writes`/`alist`/
  `adelete_thread` run the sync methods in the event loop's default executor (LangChain's
  `run_in_executor(None, ...)`), so they never block the loop, but a cancelled await does not
  stop the MongoDB call already running in its thread.
* **Failures are `CheckpointerError`.** Every driver error raised by the saver becomes a
  `CheckpointerError` naming MongoDB and the host (never the password), which the app maps to
  503 `checkpointer_unavailable`; pymongo's `serverSelectionTimeoutMS` (from
  `COSMIC_WORKS_MONGODB_TIMEOUT_S`) bounds how long a request waits for a server that is gone,
  and for that long after such a failure the next calls (the failed turn's rollback) fail at
  once rather than wait again.
* **Indexes.** The saver creates its unique compound indexes only when `listIndexes` does not
  show them (compared by key pattern), so indexes pre-created by `cosmic-works migrate` are
  used as they are — which matters on Azure Cosmos DB, where a unique index can only be created
  on an empty collection. The saver's own TTL check never matches an existing index (it compares
  a list with a tuple) and would re-issue `createIndexes` at every start; TTL indexes are
  therefore handled here (`COSMIC_WORKS_CHECKPOINT_TTL_S`), the saver being built without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.base import CheckpointTuple as _Tuple
from langgraph.checkpoint.mongodb import MongoDBSaver
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from core.mongodb import (
    SOCKET_TIMEOUT_S,
    IndexSpec,
    RecentOutage,
    client_kwargs,
    describe_mongodb,
    ensure_index_sync,
    summarize_error,
)
from core.settings import Settings
from graphs.checkpointer import CheckpointerError

CHECKPOINTS = "checkpoints"
CHECKPOINT_WRITES = "checkpoint_writes"
# The saver's unique keys (langgraph-checkpoint-mongodb 0.5, `MongoDBSaver.__init__`).
CHECKPOINT_KEYS = (("thread_id", 1), ("checkpoint_ns", 1), ("checkpoint_id", -1))
WRITES_KEYS = (*CHECKPOINT_KEYS, ("task_id", 1), ("idx", 1))
TTL_FIELD = "created_at"  # set by the saver on every document when its `ttl` is set


def checkpoint_indexes(ttl_s: int | None) -> list[IndexSpec]:
    """Every index the saver's two collections need (TTL ones only with a TTL)."""
    specs = [
        IndexSpec(CHECKPOINTS, CHECKPOINT_KEYS, unique=True),
        IndexSpec(CHECKPOINT_WRITES, WRITES_KEYS, unique=True),
    ]
    if ttl_s is not None:
        specs += [
            IndexSpec(name, ((TTL_FIELD, 1),), expire_after_s=ttl_s)
            for name in (CHECKPOINTS, CHECKPOINT_WRITES)
        ]
    return specs


def require_uri(settings: Settings, what: str) -> str:
    if settings.mongodb_uri is None or not settings.mongodb_uri.get_secret_value().strip():
        raise CheckpointerError(
            f"{what} on MongoDB needs MONGODB_URI (alias DB_CONNECTION_STRING); set it, or "
            "set COSMIC_WORKS_CHECKPOINTER=sqlite"
        )
    return settings.mongodb_uri.get_secret_value().strip()


class GuardedMongoDBSaver(MongoDBSaver):
    """`MongoDBSaver` whose driver errors become `CheckpointerError` (HTTP 503).

    Only the sync methods are overridden: the saver's async methods call them in a thread.
    After a connection failure, calls fail at once for `hold_s` (see `RecentOutage`).
    """

    def __init__(self, client: MongoClient[Any], db_name: str, *, uri: str, hold_s: float) -> None:
        self._uri = uri
        self._where = f"{describe_mongodb(uri)} (database {db_name})"
        self._outage = RecentOutage(hold_s)
        super().__init__(client, db_name, CHECKPOINTS, CHECKPOINT_WRITES, ttl=None)

    def _guard(self) -> None:
        recent = self._outage.recent()
        if recent is not None:
            raise CheckpointerError(recent)

    def _error(self, exc: PyMongoError) -> CheckpointerError:
        message = f"{self._where} failed: {summarize_error(exc, self._uri)}"
        self._outage.record(exc, message)
        return CheckpointerError(message)

    def get_tuple(self, config: RunnableConfig) -> _Tuple | None:
        self._guard()
        try:
            return super().get_tuple(config)
        except PyMongoError as exc:
            raise self._error(exc) from exc

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[_Tuple]:
        self._guard()
        try:
            yield from super().list(config, filter=filter, before=before, limit=limit)
        except PyMongoError as exc:
            raise self._error(exc) from exc

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._guard()
        try:
            return super().put(config, checkpoint, metadata, new_versions)
        except PyMongoError as exc:
            raise self._error(exc) from exc

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._guard()
        try:
            super().put_writes(config, writes, task_id, task_path)
        except PyMongoError as exc:
            raise self._error(exc) from exc

    def delete_thread(self, thread_id: str) -> None:
        self._guard()
        try:
            super().delete_thread(thread_id)
        except PyMongoError as exc:
            raise self._error(exc) from exc


def _build_saver(settings: Settings, uri: str) -> GuardedMongoDBSaver:
    """Connect, check or create the indexes, and return the saver (blocking: run in a thread)."""
    timeout_s = settings.mongodb_timeout_s
    client: MongoClient[Any] = MongoClient(
        uri, **client_kwargs(uri, timeout_s, socket_timeout_s=SOCKET_TIMEOUT_S)
    )
    try:
        saver = GuardedMongoDBSaver(client, settings.mongodb_database, uri=uri, hold_s=timeout_s)
        ttl = settings.checkpoint_ttl_s
        if ttl is not None:
            for spec in checkpoint_indexes(ttl):
                if spec.expire_after_s is not None:
                    ensure_index_sync(saver.db, spec)
            saver.ttl = ttl  # from now on the saver stamps `created_at` on what it writes
        return saver
    except BaseException:
        client.close()
        raise


@asynccontextmanager
async def open_mongodb_checkpointer(settings: Settings) -> AsyncIterator[GuardedMongoDBSaver]:
    """Yield a ready `GuardedMongoDBSaver` on `settings.mongodb_database`; close its client."""
    uri = require_uri(settings, "the checkpointer")
    where = describe_mongodb(uri)
    try:
        saver = await asyncio.to_thread(_build_saver, settings, uri)
    except OperationFailure as exc:
        raise CheckpointerError(
            f"{where} refused the checkpoint indexes ({summarize_error(exc, uri)}); on Azure "
            "Cosmos DB run `cosmic-works migrate` against an empty database first"
        ) from exc
    except PyMongoError as exc:
        raise CheckpointerError(
            f"cannot open the checkpointer on {where}: {summarize_error(exc, uri)}"
        ) from exc
    try:
        yield saver
    finally:
        await asyncio.to_thread(saver.client.close)
