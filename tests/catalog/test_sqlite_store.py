"""What only the SQLite store has: its file (WAL, parent dirs), the FTS5 fallback, its errors.

Everything the protocol promises is checked for both backends in `test_store_conformance.py`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from catalog.sqlite_store import SqliteCatalogStore, open_sqlite_store
from catalog.store import StoreError
from tests.catalog.store_cases import fill


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "catalog.sqlite"


@pytest.fixture
async def store(db_path: Path, hashing_embeddings: Embeddings) -> AsyncIterator[SqliteCatalogStore]:
    store = await open_sqlite_store(db_path, hashing_embeddings)
    await fill(store)
    yield store
    await store.aclose()


async def test_creates_parent_dirs_and_uses_wal(store: SqliteCatalogStore, db_path: Path) -> None:
    assert db_path.exists()  # noqa: ASYNC240
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.path == db_path


async def test_hybrid_search_token_fallback_without_fts5(store: SqliteCatalogStore) -> None:
    store._fts = False  # as on a Python whose sqlite lacks FTS5
    assert store.keyword_backend == "tokens"
    hits = await store.hybrid_search_products("FR-T07R-47 price", k=3)
    assert hits[0].document.id == "prod-7"


async def test_sqlite_errors_become_store_errors(
    tmp_path: Path, hashing_embeddings: Embeddings
) -> None:
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match=str(bad)):
        await open_sqlite_store(bad, hashing_embeddings)
