"""Open the catalog store the settings name: the SQLite file by default, or MongoDB.

Every backend is chosen by settings alone; a combination that cannot work fails here, at
startup, with a message naming the setting to change.
"""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from catalog.store import CatalogStore, StoreError
from core.settings import Settings


async def open_catalog_store(
    settings: Settings, embeddings: Embeddings, *, allow_identity_change: bool = False
) -> CatalogStore:
    """A ready store; the caller owns it and must `await store.aclose()`.

    Raises `StoreError` when the store is unreachable or misconfigured, or holds vectors of
    another embedding model (unless `allow_identity_change`, which `load --replace` uses: the
    store then opens, and refuses searches and upserts until its collections are dropped).
    """
    if settings.store == "sqlite":
        if settings.vector_search != "exact":
            raise StoreError(
                f"COSMIC_WORKS_VECTOR_SEARCH={settings.vector_search} needs "
                "COSMIC_WORKS_STORE=mongodb; the SQLite store always searches exactly: set "
                "COSMIC_WORKS_VECTOR_SEARCH=exact (or unset it)"
            )
        from catalog.sqlite_store import open_sqlite_store

        return await open_sqlite_store(
            settings.sqlite_catalog_path, embeddings, allow_identity_change=allow_identity_change
        )
    if settings.store == "mongodb":
        from catalog.mongo_store import open_mongo_store

        return await open_mongo_store(
            settings, embeddings, allow_identity_change=allow_identity_change
        )
    raise StoreError(
        f"unknown store backend {settings.store!r}: set COSMIC_WORKS_STORE to 'sqlite' or 'mongodb'"
    )


def describe_catalog_store(settings: Settings) -> str:
    """Where the catalog lives, safe to print (a MongoDB URI's password is masked)."""
    if settings.store == "mongodb" and settings.mongodb_uri is not None:
        from catalog.mongo_store import redact_uri

        uri = redact_uri(settings.mongodb_uri.get_secret_value())
        return f"{uri} database {settings.mongodb_database} ({settings.vector_search} search)"
    return str(settings.sqlite_catalog_path)
