"""Open the catalog store the settings name (SQLite file by default)."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from catalog.store import CatalogStore, StoreError
from core.settings import Settings


async def open_catalog_store(settings: Settings, embeddings: Embeddings) -> CatalogStore:
    """A ready store; the caller owns it and must `await store.aclose()`."""
    if settings.store == "sqlite":
        from catalog.sqlite_store import open_sqlite_store

        return await open_sqlite_store(settings.sqlite_catalog_path, embeddings)
    raise StoreError(
        f"store backend {settings.store!r} is not available in this build; "
        "set COSMIC_WORKS_STORE=sqlite"
    )
