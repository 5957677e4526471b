"""Fixtures for the MongoDB backend tests (SecantusDB, a real MongoDB-wire-protocol server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pymongo
import pytest

from core.settings import Settings
from tests.server_process import free_port

# A password that must never appear in an error, a log line or a response.
SECRET = "s3cr3t-Pa55"


@pytest.fixture
def mongo_settings(tmp_path: Path, mongodb_uri: str, mongodb_database: str) -> Settings:
    """Conversations (checkpoints + session index) on MongoDB, in a database of this test."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        checkpointer="mongodb",
        mongodb_uri=mongodb_uri,
        mongodb_database=mongodb_database,
    )


@pytest.fixture
def dead_mongodb_uri() -> str:
    """A connection string with a password, to a loopback port where nothing listens."""
    return f"mongodb://cosmic:{SECRET}@127.0.0.1:{free_port()}/?authSource=admin"


# --- The sample catalog on MongoDB ------------------------------------------------------------

TEMPLATE_DATABASE = "cw_sample_catalog_template"


def copy_database(source_uri: str, source: str, target_uri: str, target: str) -> None:
    """Copy every collection's documents (the store recreates its indexes when it opens)."""
    with (
        pymongo.MongoClient(source_uri) as source_client,
        pymongo.MongoClient(target_uri) as target_client,
    ):
        for name in source_client[source].list_collection_names():
            documents = list(source_client[source][name].find())
            if documents:
                target_client[target][name].insert_many(documents)


@pytest.fixture(scope="session")
def mongo_sample_template(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled sample loaded once per session into a template database (exact search).

    Loading takes ~10 s on SecantusDB; tests copy the template (~3 s) into their own database,
    because the catalog and the conversations share `MONGODB_DATABASE`.
    """
    from catalog.embeddings import build_embeddings
    from catalog.factory import open_catalog_store
    from catalog.loader import ensure_sample_loaded

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("template"),
        store="mongodb",
        vector_search="exact",
        embeddings="local",
        mongodb_uri=mongodb_uri,
        mongodb_database=TEMPLATE_DATABASE,
    )

    async def load() -> None:
        store = await open_catalog_store(settings, build_embeddings(settings))
        try:
            await ensure_sample_loaded(store)
        finally:
            await store.aclose()

    asyncio.run(load())
    return TEMPLATE_DATABASE


@pytest.fixture
def mongo_catalog_database(
    mongodb_uri: str, mongodb_database: str, mongo_sample_template: str
) -> str:
    """This test's database, holding a copy of the sample catalog and no conversations."""
    copy_database(mongodb_uri, mongo_sample_template, mongodb_uri, mongodb_database)
    return mongodb_database
