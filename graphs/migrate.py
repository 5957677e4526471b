"""`cosmic-works migrate`: create every MongoDB collection and index before the service starts.

Why a separate step: Azure Cosmos DB for MongoDB creates a unique index only on an empty
collection, so `MongoDBSaver`'s own index creation at startup is refused once checkpoints exist
(and the catalog's vector indexes take time to build). Run this once per database, before the
first `load` or `serve`; the saver then finds its indexes (it compares key patterns through
`listIndexes`) and creates nothing. On MongoDB Atlas and community servers the service would
create them itself, and running `migrate` first does no harm.

Idempotent: existing collections and indexes are left as they are; a changed TTL
(`COSMIC_WORKS_CHECKPOINT_TTL_S`) is updated in place with `collMod`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.errors import CollectionInvalid, OperationFailure, PyMongoError

from core.mongodb import (
    IndexSpec,
    client_kwargs,
    describe_mongodb,
    ensure_index_sync,
    summarize_error,
)
from core.settings import Settings
from graphs.mongo_checkpointer import checkpoint_indexes
from graphs.sessions import session_indexes

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

# The catalog's part, provided by the MongoDB catalog store (`catalog.mongo_store`):
#     async def migrate_catalog(settings, embeddings) -> list[tuple[str, str, str]]
# returning (collection, what, status) rows. Without it, `migrate` opens the store once, which
# creates the catalog's collections and indexes.
CATALOG_HOOK = "migrate_catalog"
CatalogHook = Callable[["Settings", "Embeddings"], Awaitable[Sequence[tuple[str, str, str]]]]


class MigrationError(RuntimeError):
    """The database refused a collection or an index (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class MigrationStep:
    collection: str
    what: str
    status: str  # created | exists | updated | done


def conversation_indexes(settings: Settings) -> list[IndexSpec]:
    """Every index of the checkpoint and session collections, for these settings."""
    ttl = settings.checkpoint_ttl_s
    return [*checkpoint_indexes(ttl), *session_indexes(ttl)]


def _describe(spec: IndexSpec) -> str:
    options = []
    if spec.unique:
        options.append("unique")
    if spec.expire_after_s is not None:
        options.append(f"TTL {spec.expire_after_s} s")
    return f"index {spec.name}" + (f" ({', '.join(options)})" if options else "")


def migrate_conversations(settings: Settings, uri: str) -> list[MigrationStep]:
    """Create the checkpoint and session collections, then their indexes (blocking)."""
    where = describe_mongodb(uri)
    specs = conversation_indexes(settings)
    steps: list[MigrationStep] = []
    client: MongoClient[Any] = MongoClient(uri, **client_kwargs(uri, settings.mongodb_timeout_s))
    try:
        database = client[settings.mongodb_database]
        existing = set(database.list_collection_names())
        for name in dict.fromkeys(spec.collection for spec in specs):
            status = "exists"
            if name not in existing:
                try:
                    database.create_collection(name)
                    status = "created"
                except CollectionInvalid:  # created meanwhile by another process
                    pass
            steps.append(MigrationStep(name, "collection", status))
        for spec in specs:
            try:
                status = ensure_index_sync(database, spec)
            except OperationFailure as exc:
                hint = (
                    " (Cosmos DB creates unique indexes only on empty collections: migrate a "
                    "new database, or drop this collection first)"
                    if spec.unique
                    else ""
                )
                raise MigrationError(
                    f"{where} refused {_describe(spec)} on {spec.collection}: "
                    f"{summarize_error(exc, uri)}{hint}"
                ) from exc
            steps.append(MigrationStep(spec.collection, _describe(spec), status))
    except PyMongoError as exc:
        raise MigrationError(f"cannot migrate {where}: {summarize_error(exc, uri)}") from exc
    finally:
        client.close()
    return steps


async def migrate_catalog(settings: Settings) -> list[MigrationStep]:
    """The catalog's collections and indexes, through the MongoDB store's hook."""
    from catalog.embeddings import build_embeddings

    embeddings = build_embeddings(settings)
    try:
        from catalog import mongo_store
    except ImportError:
        mongo_store = None  # type: ignore[assignment]
    hook: CatalogHook | None = getattr(mongo_store, CATALOG_HOOK, None)
    if hook is not None:
        rows = await hook(settings, embeddings)
        return [MigrationStep(*row) for row in rows]
    from catalog.factory import open_catalog_store

    store = await open_catalog_store(settings, embeddings)
    await store.aclose()
    return [MigrationStep("products, customers, sales", "catalog store opened", "done")]


async def run_migration(settings: Settings) -> list[MigrationStep]:
    """Pre-create what `settings` will use on MongoDB: conversations, catalog, or both."""
    uses_conversations = settings.resolved_checkpointer == "mongodb"
    uses_catalog = settings.store == "mongodb"
    if not (uses_conversations or uses_catalog):
        raise MigrationError(
            "nothing to migrate: set COSMIC_WORKS_STORE=mongodb (and MONGODB_URI); the "
            "checkpointer follows the store unless COSMIC_WORKS_CHECKPOINTER is set"
        )
    uri = settings.mongodb_uri.get_secret_value().strip() if settings.mongodb_uri else ""
    if not uri:
        raise MigrationError("migrate needs MONGODB_URI (alias DB_CONNECTION_STRING)")
    steps: list[MigrationStep] = []
    if uses_conversations:
        steps += await asyncio.to_thread(migrate_conversations, settings, uri)
    if uses_catalog:
        steps += await migrate_catalog(settings)
    return steps
