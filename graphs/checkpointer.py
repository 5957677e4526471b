"""Checkpointer factory: where conversation state lives (SQLite file, memory, or MongoDB).

Savers are opened inside an async context (the app's lifespan or a CLI command) and closed with
it, never at import time. The MongoDB saver lives in `graphs.mongo_checkpointer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from core.settings import CheckpointerBackend, Settings


class CheckpointerError(RuntimeError):
    """The conversation store cannot be opened or reached. Maps to HTTP 503."""


@asynccontextmanager
async def open_checkpointer(
    settings: Settings, backend: CheckpointerBackend | None = None
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Yield a ready saver for `backend` (default: the one the settings resolve to)."""
    backend = backend or settings.resolved_checkpointer
    if backend == "memory":
        yield InMemorySaver()
        return
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = settings.sqlite_checkpoint_path
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointerError(f"cannot create data directory {path.parent}: {exc}") from exc
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            await saver.conn.execute("PRAGMA journal_mode=WAL")
            await saver.conn.execute("PRAGMA synchronous=NORMAL")
            await saver.setup()
            yield saver
        return
    if backend == "mongodb":
        from graphs.mongo_checkpointer import open_mongodb_checkpointer

        async with open_mongodb_checkpointer(settings) as mongo_saver:
            yield mongo_saver
        return
    raise CheckpointerError(f"unknown checkpointer backend {backend!r}")
