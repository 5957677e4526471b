"""What only the MongoDB store has: its indexes and document shape, bulk batches, errors that
name the host and never the password, recovery after a restart, the `exact` cache, and the
`atlas` / `cosmos` pipelines and index definitions (checked against the documented shapes:
SecantusDB cannot run `$vectorSearch` or `cosmosSearch`). The protocol itself is checked in
`test_store_conformance.py`.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from langchain_core.embeddings import Embeddings
from langchain_mongodb.index import _vector_search_index_definition
from pydantic import ValidationError
from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

import app.cli as cli
from catalog import mongo_exact
from catalog.factory import open_catalog_store
from catalog.mongo_store import MongoCatalogStore, migrate_catalog
from catalog.mongo_vector_search import (
    AtlasSearch,
    CosmosIndexOptions,
    CosmosSearch,
    atlas_hybrid_pipeline,
    atlas_score,
    atlas_text_index_definition,
    atlas_vector_index_definition,
    atlas_vector_pipeline,
    cosmos_keyword_query,
    cosmos_text_index,
    cosmos_vector_index,
    cosmos_vector_pipeline,
    keyword_terms,
)
from catalog.store import StoreError
from core.settings import Settings
from tests.catalog.store_cases import customer, fill, product
from tests.conftest import HashingEmbeddings
from tests.mongo_server import secantus_server
from tests.server_process import free_port

pytestmark = pytest.mark.slow  # a real server (SecantusDB) for most of them

PASSWORD = "s3cr/et:p@ss"
QUOTED = "s3cr%2Fet%3Ap%40ss"
VECTOR = [0.1, 0.2, 0.3]


def settings(uri: str, database: str = "cw", **extra: Any) -> Settings:
    return Settings(
        _env_file=None, store="mongodb", mongodb_uri=uri, mongodb_database=database, **extra
    )


@pytest.fixture
async def store(
    mongodb_uri: str, mongodb_database: str, hashing_embeddings: Embeddings
) -> AsyncIterator[MongoCatalogStore]:
    opened = await open_catalog_store(settings(mongodb_uri, mongodb_database), hashing_embeddings)
    assert isinstance(opened, MongoCatalogStore)
    await fill(opened)
    yield opened
    await opened.aclose()


def raw_db(uri: str, database: str) -> Any:
    return pymongo.MongoClient(uri)[database]


# ------------------------------------------------------------------------- client options
# (URI parsing and error redaction are `core.mongodb`'s: tests/mongo/test_connection_helpers.py)


async def test_client_fails_fast_unless_the_uri_says_else(
    mongodb_uri: str, mongodb_database: str, hashing_embeddings: Embeddings
) -> None:
    config = settings(mongodb_uri, mongodb_database, mongodb_timeout_s=1.5)
    opened = await open_catalog_store(config, hashing_embeddings)
    assert isinstance(opened, MongoCatalogStore)
    try:
        options = opened._client.options
        assert options.server_selection_timeout == 1.5
        assert options.pool_options.connect_timeout == 1.5
        assert options.pool_options.socket_timeout == 30.0  # a hung server, not a down one
        assert options.pool_options.metadata["application"]["name"] == "cosmic-works-agent"
    finally:
        await opened.aclose()
    given = f"{mongodb_uri}/?serverSelectionTimeoutMS=9000&appName=x"  # mongodb://host:port
    opened = await open_catalog_store(settings(given, mongodb_database), hashing_embeddings)
    assert isinstance(opened, MongoCatalogStore)
    try:
        options = opened._client.options
        assert options.server_selection_timeout == 9.0
        assert options.pool_options.metadata["application"]["name"] == "x"
    finally:
        await opened.aclose()


# --------------------------------------------------------------------- startup configuration


async def test_missing_uri_names_the_setting(hashing_embeddings: Embeddings) -> None:
    config = Settings(_env_file=None, store="mongodb", mongodb_uri=None)
    with pytest.raises(StoreError, match=re.escape("set MONGODB_URI (or DB_CONNECTION_STRING)")):
        await open_catalog_store(config, hashing_embeddings)


async def test_sqlite_store_refuses_a_server_search_mode(
    tmp_path: Path, hashing_embeddings: Embeddings
) -> None:
    config = Settings(_env_file=None, store="sqlite", data_dir=tmp_path, vector_search="atlas")
    with pytest.raises(StoreError, match="COSMIC_WORKS_VECTOR_SEARCH=exact"):
        await open_catalog_store(config, hashing_embeddings)


def test_unknown_cosmos_index_kind_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSMIC_WORKS_COSMOS_INDEX_KIND", "vector-flat")
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    assert info.value.errors()[0]["loc"] == ("COSMIC_WORKS_COSMOS_INDEX_KIND",)
    with pytest.raises(StoreError, match="COSMIC_WORKS_COSMOS_INDEX_KIND"):
        cosmos_vector_index("v", 3, CosmosIndexOptions(kind="vector-flat"))


async def test_bad_cosmos_options_fail_before_connecting(hashing_embeddings: Embeddings) -> None:
    config = settings(
        f"mongodb://127.0.0.1:{free_port()}",
        vector_search="cosmos",
        cosmos_m=64,
        cosmos_ef_construction=100,
    )
    started = time.monotonic()
    with pytest.raises(StoreError, match="COSMIC_WORKS_COSMOS_EF_CONSTRUCTION"):
        await open_catalog_store(config, hashing_embeddings)
    assert time.monotonic() - started < 1.0


async def test_invalid_uri_names_the_setting(hashing_embeddings: Embeddings) -> None:
    with pytest.raises(StoreError, match="check MONGODB_URI") as info:
        await open_catalog_store(settings(f"mongodb://u:{QUOTED}@h:notaport"), hashing_embeddings)
    assert "s3cr" not in str(info.value)


@pytest.mark.parametrize(
    ("mode", "advice"), [("atlas", "COSMIC_WORKS_VECTOR_SEARCH=exact"), ("cosmos", "=exact")]
)
async def test_server_search_modes_fail_at_startup_on_a_community_server(
    mongodb_uri: str, mongodb_database: str, hashing_embeddings: Embeddings, mode: str, advice: str
) -> None:
    """A real refusal: SecantusDB, like a community `mongod`, has neither index kind."""
    config = settings(mongodb_uri, mongodb_database, vector_search=mode)
    with pytest.raises(StoreError, match=re.escape(advice)) as info:
        await open_catalog_store(config, hashing_embeddings)
    assert "COSMIC_WORKS_VECTOR_SEARCH" in str(info.value)


# ---------------------------------------------------------------------- indexes and layout


async def test_indexes_and_stored_shape(
    store: MongoCatalogStore, mongodb_uri: str, mongodb_database: str
) -> None:
    db = raw_db(mongodb_uri, mongodb_database)
    products = {ix["name"]: ix for ix in db.products.list_indexes()}
    assert dict(products["sku_lower"]["key"]) == {"sku_lower": 1}
    assert products["sku_lower"].get("unique") is True
    assert {"categoryName_lower", "categoryId_lower"} <= set(products)
    for name in ("customers", "sales"):
        keys = [dict(ix["key"]) for ix in db[name].list_indexes()]
        assert {"customerId": 1} in keys and {"customerId_lower": 1} in keys

    stored = db.products.find_one({"_id": "prod-3"})
    assert stored["id"] == "prod-3" and stored["sku_lower"] == "fr-t03r-43"
    assert stored["categoryName_lower"] == "components, road frames"
    vector = stored["embedding"]
    assert len(vector) == 384 and math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-5)
    assert "SKU: FR-T03R-43" in stored["embedding_text"]
    cust = db.customers.find_one({"_id": "cust-1"})
    assert "password" not in cust and "contentVector" not in cust
    assert cust["customerId_lower"] == "cid-1"
    meta = db.catalog_meta.find_one({"_id": "catalog"})
    assert meta["embedding_identity"] == store.embedding_identity
    assert meta["dimensions"] == 384
    assert db.catalog_meta.find_one({"_id": "version:products"})["value"] >= 1
    assert store.vector_search_mode == "exact"
    assert "database" in store.where and mongodb_database in store.where


async def test_upsert_sends_one_bulk_write_of_replace_upserts_per_batch(
    store: MongoCatalogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[Any], bool]] = []
    original = AsyncCollection.bulk_write

    async def spy(self: AsyncCollection[Any], requests: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((list(requests), kwargs.get("ordered", True)))
        return await original(self, requests, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "bulk_write", spy)
    progress: list[int] = []
    await store.upsert_many("products", [product(i) for i in range(200, 330)], progress.append)
    assert [len(requests) for requests, _ in calls] == progress == [64, 64, 2]
    for requests, ordered in calls:
        assert ordered is False
        assert all(isinstance(r, ReplaceOne) for r in requests)
        assert all(r._upsert and r._filter == {"_id": r._doc["_id"]} for r in requests)


async def test_duplicate_sku_is_a_clear_store_error(store: MongoCatalogStore) -> None:
    twin = product(3, id="prod-twin")  # same sku as prod-3
    with pytest.raises(StoreError, match=r"'prod-twin' has sku 'FR-T03R-43'.*unique"):
        await store.upsert_many("products", [twin])


async def test_exact_cache_is_rebuilt_only_after_writes(
    store: MongoCatalogStore,
    monkeypatch: pytest.MonkeyPatch,
    mongodb_uri: str,
    mongodb_database: str,
    hashing_embeddings: Embeddings,
) -> None:
    builds: list[str] = []
    original = mongo_exact.ExactSearch._build

    async def spy(self: Any, coll: Any, collection: str, version: int) -> Any:
        builds.append(collection)
        return await original(self, coll, collection, version)

    monkeypatch.setattr(mongo_exact.ExactSearch, "_build", spy)
    for _ in range(3):
        await store.vector_search("products", "frame")
    await store.hybrid_search_products("frame")
    assert builds == ["products"]
    await store.upsert_many("products", [product(60)])
    await store.vector_search("products", "frame")
    assert builds == ["products", "products"]
    other = await open_catalog_store(settings(mongodb_uri, mongodb_database), hashing_embeddings)
    try:
        await other.upsert_many("customers", [customer(7)])
    finally:
        await other.aclose()
    await store.vector_search("products", "frame")  # products untouched: still cached
    await store.vector_search("customers", "Ann7")
    assert builds == ["products", "products", "customers"]


async def test_big_matrices_are_scored_off_the_event_loop(
    store: MongoCatalogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    original = mongo_exact.ExactSnapshot.scores

    def spy(self: Any, query: Any, flt: Any) -> Any:
        import threading

        threads.append(threading.current_thread().name)
        return original(self, query, flt)

    monkeypatch.setattr(mongo_exact.ExactSnapshot, "scores", spy)
    monkeypatch.setattr(mongo_exact, "INLINE_ROWS", 0)
    hits = await store.hybrid_search_products("FR-T07R-47", k=1)
    assert hits[0].document.id == "prod-7"
    assert threads and all(name != "MainThread" for name in threads)


async def test_migrate_catalog_reports_what_it_created(
    mongodb_uri: str, mongodb_database: str, hashing_embeddings: Embeddings
) -> None:
    config = settings(mongodb_uri, mongodb_database)
    first = await migrate_catalog(config, hashing_embeddings)
    assert ("products", "index sku_lower (unique)", "created") in first
    assert ("sales", "index customerId", "created") in first
    again = await migrate_catalog(config, hashing_embeddings)
    assert {status for _, _, status in again} == {"exists"}


# ------------------------------------------------------------------- outages and recovery


async def test_unreachable_server_fails_fast_naming_host_not_password(
    hashing_embeddings: Embeddings,
) -> None:
    port = free_port()  # nothing listens there
    uri = f"mongodb://app:{QUOTED}@127.0.0.1:{port}/?authSource=admin"
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        await open_catalog_store(settings(uri), hashing_embeddings)
    assert time.monotonic() - started < 4.0  # serverSelectionTimeoutMS = 2000
    message = str(info.value)
    assert f"MongoDB at 127.0.0.1:{port} is unreachable" in message
    assert PASSWORD not in message and QUOTED not in message and "s3cr" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_down_during_requests_then_back(
    tmp_path: Path, hashing_embeddings: Embeddings
) -> None:
    """The same client fails fast while the server is down and works once it is back."""
    storage, port = tmp_path / "db", free_port()
    with secantus_server(storage, port=port) as uri:
        store = await open_catalog_store(settings(uri), hashing_embeddings)
        await store.upsert_many("products", [product(1)])
        assert await store.get_product_by_id("prod-1") is not None
    try:
        for call in (store.ping(), store.get_product_by_sku("FR-T01R-41"), store.count("sales")):
            started = time.monotonic()
            with pytest.raises(StoreError, match=f"MongoDB at 127.0.0.1:{port} is unreachable"):
                await call
            assert time.monotonic() - started < 4.0
        with secantus_server(storage, port=port):
            await store.ping()
            found = await store.get_product_by_sku("fr-t01r-41")
            assert found is not None and found.id == "prod-1"
            assert [h.document.id for h in await store.vector_search("products", "frame")] == [
                "prod-1"
            ]
    finally:
        await store.aclose()


# ------------------------------------------------------- Atlas: definitions and pipelines


def test_atlas_index_definitions_match_langchain_mongodb_and_the_docs() -> None:
    definition = atlas_vector_index_definition("products", 1536)
    assert definition == _vector_search_index_definition(
        1536, "embedding", "cosine", ["categoryName_lower", "categoryId_lower"]
    )
    assert definition["fields"][0] == {
        "numDimensions": 1536,
        "path": "embedding",
        "similarity": "cosine",
        "type": "vector",
    }
    customers = atlas_vector_index_definition("sales", 384)["fields"]
    assert customers[1:] == [{"type": "filter", "path": "customerId_lower"}]
    text = atlas_text_index_definition()
    assert text["mappings"]["dynamic"] is False
    fields = text["mappings"]["fields"]
    assert fields["name"] == fields["sku"] == fields["description"] == {"type": "string"}
    assert fields["tags"] == {"type": "document", "fields": {"name": {"type": "string"}}}


def test_atlas_vector_pipeline_shape() -> None:
    pipeline = atlas_vector_pipeline(
        "products", VECTOR, 5, {"categoryName": " Bikes, Road Bikes "}, "vector_index"
    )
    assert pipeline[0] == {
        "$vectorSearch": {
            "index": "vector_index",
            "path": "embedding",
            "queryVector": VECTOR,
            "numCandidates": 50,
            "limit": 5,
            "filter": {"categoryName_lower": {"$eq": "bikes, road bikes"}},
        }
    }
    assert pipeline[1] == {"$set": {"_score": {"$meta": "vectorSearchScore"}}}
    assert pipeline[2]["$project"]["embedding"] == 0
    assert set(pipeline[2]["$project"].values()) == {0}  # exclusion only: documents stay whole
    two = atlas_vector_pipeline(
        "products", VECTOR, 3, {"categoryName": "A", "categoryId": "B"}, "v"
    )
    assert two[0]["$vectorSearch"]["filter"] == {
        "$and": [{"categoryName_lower": {"$eq": "a"}}, {"categoryId_lower": {"$eq": "b"}}]
    }
    assert "filter" not in atlas_vector_pipeline("sales", VECTOR, 3, {}, "v")[0]["$vectorSearch"]
    assert atlas_score(1.0) == 1.0 and atlas_score(0.5) == 0.0 and atlas_score(0.0) == -1.0


def test_atlas_hybrid_pipeline_shape() -> None:
    pipeline = atlas_hybrid_pipeline(
        "price of FR-R92B-58 road frame", VECTOR, 3, {"categoryId": "X"}, "vi", "ti"
    )
    stages = [next(iter(stage)) for stage in pipeline]
    assert stages[0] == "$vectorSearch" and pipeline[0]["$vectorSearch"]["limit"] == 50
    assert pipeline[0]["$vectorSearch"]["filter"] == {"categoryId_lower": {"$eq": "x"}}
    assert "$unionWith" in stages
    union = pipeline[stages.index("$unionWith")]["$unionWith"]
    assert union["coll"] == "products"
    search = union["pipeline"][0]["$search"]
    assert search["index"] == "ti"
    assert search["compound"]["should"] == [
        {
            "text": {
                "query": "price road frame",
                "path": ["name", "sku", "categoryName", "description", "tags.name"],
            }
        },
        {
            "phrase": {
                "query": "fr-r92b-58",
                "path": ["name", "sku", "categoryName", "description", "tags.name"],
            }
        },
    ]
    assert union["pipeline"][1] == {"$match": {"categoryId_lower": "x"}}
    assert union["pipeline"][2] == {"$limit": 50}
    # langchain-mongodb's weighted RRF: 1 / (rank + 60 + 1) with rank from 0 = 1 / (60 + rank).
    divides = [
        s["$addFields"]
        for s in [*pipeline, *union["pipeline"]]
        if "$addFields" in s and "docs.rank" in s["$addFields"]
    ]
    assert {next(k for k in d if k.endswith("_score")) for d in divides} == {
        "docs.vector_score",
        "docs.fulltext_score",
    }
    assert pipeline[-3] == {"$sort": {"score": -1}} and pipeline[-2] == {"$limit": 3}
    hidden = pipeline[-1]["$project"]
    assert "embedding" not in hidden and hidden["embedding_text"] == 0  # rescored, then dropped
    vector_only = atlas_hybrid_pipeline("the of", VECTOR, 3, {}, "vi", "ti")
    assert not any("$unionWith" in stage for stage in vector_only)


# ------------------------------------------------------ Cosmos: definitions and pipelines


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            CosmosIndexOptions(kind="vector-ivf", num_lists=3),
            {"kind": "vector-ivf", "numLists": 3, "similarity": "COS", "dimensions": 1536},
        ),
        (
            CosmosIndexOptions(kind="vector-hnsw", m=16, ef_construction=64),
            {
                "kind": "vector-hnsw",
                "m": 16,
                "efConstruction": 64,
                "similarity": "COS",
                "dimensions": 1536,
            },
        ),
        (
            CosmosIndexOptions(kind="vector-diskann", max_degree=32, l_build=50),
            {
                "kind": "vector-diskann",
                "maxDegree": 32,
                "lBuild": 50,
                "similarity": "COS",
                "dimensions": 1536,
            },
        ),
    ],
)
def test_cosmos_index_definitions(options: CosmosIndexOptions, expected: dict[str, Any]) -> None:
    assert cosmos_vector_index("vectorSearchIndex", 1536, options) == {
        "name": "vectorSearchIndex",
        "key": {"embedding": "cosmosSearch"},
        "cosmosSearchOptions": expected,
    }


def test_cosmos_limits_name_the_setting() -> None:
    with pytest.raises(StoreError, match="at most 2000 dimensions.*COSMIC_WORKS_EMBEDDINGS"):
        cosmos_vector_index("v", 3072, CosmosIndexOptions())
    with pytest.raises(StoreError, match="COSMIC_WORKS_COSMOS_M"):
        cosmos_vector_index("v", 8, CosmosIndexOptions(m=40, ef_construction=64))


def test_cosmos_settings_reach_the_definition() -> None:
    from catalog.mongo_store import build_strategy

    config = settings(
        "mongodb://h",
        vector_search="cosmos",
        cosmos_index_kind="vector-diskann",
        cosmos_max_degree=64,
        cosmos_l_build=100,
        vector_index_name="vix",
    )
    strategy = build_strategy(config)
    assert isinstance(strategy, CosmosSearch)
    definition = cosmos_vector_index(strategy.index_name, 384, strategy.options)
    assert definition["name"] == "vix"
    assert definition["cosmosSearchOptions"]["maxDegree"] == 64
    assert definition["cosmosSearchOptions"]["lBuild"] == 100
    assert isinstance(build_strategy(settings("mongodb://h", vector_search="atlas")), AtlasSearch)
    assert build_strategy(settings("mongodb://h")) is None  # exact: the store's own


@pytest.mark.parametrize(
    ("kind", "knob"),
    [("vector-hnsw", "efSearch"), ("vector-diskann", "lSearch"), ("vector-ivf", None)],
)
def test_cosmos_vector_pipeline_shape(kind: str, knob: str | None) -> None:
    pipeline = cosmos_vector_pipeline("sales", VECTOR, 5, {"customerId": "CID-1"}, kind)
    search = pipeline[0]["$search"]
    assert search["returnStoredSource"] is True
    expected = {
        "vector": VECTOR,
        "path": "embedding",
        "k": 5,
        "filter": {"customerId_lower": {"$eq": "cid-1"}},
    }
    if knob is not None:
        expected[knob] = 40
    assert search["cosmosSearch"] == expected
    assert pipeline[1] == {
        "$project": {"similarityScore": {"$meta": "searchScore"}, "document": "$$ROOT"}
    }
    assert pipeline[2]["$project"]["document.embedding"] == 0
    unfiltered = cosmos_vector_pipeline("products", VECTOR, 50, {}, "vector-hnsw")
    assert "filter" not in unfiltered[0]["$search"]["cosmosSearch"]
    assert unfiltered[0]["$search"]["cosmosSearch"]["efSearch"] == 50  # k <= efSearch


def test_cosmos_keyword_query_and_text_index() -> None:
    args = cosmos_keyword_query("What is the price of FR-R92B-58?", {"categoryName": "X"}, 50)
    assert args is not None
    query, projection, sort, limit = args
    assert query == {"$text": {"$search": 'price "fr-r92b-58"'}, "categoryName_lower": "x"}
    assert projection["_text_score"] == {"$meta": "textScore"}
    assert "embedding" not in projection  # kept to rescore keyword-only hits
    assert sort == [("_text_score", {"$meta": "textScore"})] and limit == 50
    assert cosmos_keyword_query("what is the", {}, 50) is None
    index = cosmos_text_index("text_index").document
    assert index["name"] == "text_index"
    assert dict(index["key"]) == dict.fromkeys(
        ["name", "sku", "categoryName", "description", "tags.name"], "text"
    )
    assert index["weights"]["sku"] == 10


def test_keyword_terms_keep_skus_whole() -> None:
    assert keyword_terms("What was the price of the product with sku `FR-R92B-58`?") == [
        "price",
        "product",
        "sku",
        "fr-r92b-58",
    ]


# ------------------------------------------- strategies over a scripted collection (mapping)


class _Cursor:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows]

    def sort(self, *args: Any) -> _Cursor:
        return self

    def limit(self, n: int) -> _Cursor:
        return self


class _Collection:
    """Plays back server answers: what a strategy sends, and how it maps what comes back."""

    def __init__(self, rows: list[dict[str, Any]], found: list[dict[str, Any]] | None = None):
        self.rows, self.found = rows, found or []
        self.sent: list[Any] = []
        self.indexes: list[dict[str, Any]] = []

    async def aggregate(self, pipeline: list[dict[str, Any]]) -> _Cursor:
        self.sent.append(pipeline)
        return _Cursor(self.rows)

    def find(self, query: dict[str, Any], projection: dict[str, Any]) -> _Cursor:
        self.sent.append((query, projection))
        return _Cursor(self.found)

    async def list_indexes(self) -> _Cursor:
        return _Cursor(self.indexes)

    async def drop_index(self, name: str) -> None:
        self.sent.append(("drop", name))
        self.indexes = [ix for ix in self.indexes if ix["name"] != name]

    async def create_indexes(self, models: list[Any]) -> None:
        self.sent.append(("create", [m.document["name"] for m in models]))


class _Database:
    def __init__(self, coll: _Collection) -> None:
        self.coll, self.commands = coll, []

    def __getitem__(self, name: str) -> _Collection:
        return self.coll

    async def command(self, command: dict[str, Any]) -> dict[str, Any]:
        self.commands.append(command)
        self.coll.indexes.append(
            {"name": "vi", "key": {"embedding": "cosmosSearch"}, "cosmosSearch": {}}
        )
        return {"ok": 1}


def _row(doc_id: str, vector: list[float], **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "id": doc_id, "embedding": vector, "sku_lower": doc_id, **extra}


async def test_atlas_results_become_cosine_hits_without_internals() -> None:
    query = mongo_exact.unit_rows([1.0, 0.0, 0.0])
    coll = _Collection([{"_id": "a", "id": "a", "name": "A", "_score": 0.75}])
    hits = await AtlasSearch("vi", "ti").vector(coll, "products", query, 3, {})  # type: ignore[arg-type]
    assert hits == [({"id": "a", "name": "A"}, 0.5)]
    coll = _Collection([_row("a", [0.0, 2.0, 0.0]), _row("b", [3.0, 0.0, 0.0])])
    hybrid = await AtlasSearch("vi", "ti").hybrid(coll, "x", query, 3, {})  # type: ignore[arg-type]
    assert hybrid == [({"id": "a"}, 0.0), ({"id": "b"}, 1.0)]  # server order, cosine scores


async def test_cosmos_results_and_hybrid_fusion() -> None:
    query = mongo_exact.unit_rows([1.0, 0.0, 0.0])
    vector_rows = [
        {"similarityScore": 0.9, "document": {"_id": "a", "id": "a"}},
        {"similarityScore": 0.8, "document": {"_id": "b", "id": "b"}},
    ]
    keyword_rows = [
        {**_row("c", [1.0, 1.0, 0.0]), "_text_score": 3.0},
        {**_row("b", [1.0, 0.0, 0.0]), "_text_score": 1.0},
    ]
    coll = _Collection(vector_rows, keyword_rows)
    strategy = CosmosSearch("vi", "ti", CosmosIndexOptions())
    hits = await strategy.vector(coll, "products", query, 2, {})  # type: ignore[arg-type]
    assert hits == [({"id": "a"}, 0.9), ({"id": "b"}, 0.8)]
    fused = await strategy.hybrid(coll, "FR-1 frame", query, 3, {})  # type: ignore[arg-type]
    assert [doc["id"] for doc, _ in fused] == ["b", "a", "c"]  # b is in both lists
    assert fused[2][1] == pytest.approx(math.sqrt(0.5))  # keyword-only hit rescored
    assert all("embedding" not in doc and "_text_score" not in doc for doc, _ in fused)


async def test_cosmos_ensure_creates_keeps_or_replaces_the_vector_index() -> None:
    coll = _Collection([])
    db = _Database(coll)
    strategy = CosmosSearch("vi", "ti", CosmosIndexOptions(kind="vector-ivf", num_lists=2))
    rows = await strategy.ensure_indexes(db, "products", 8)  # type: ignore[arg-type]
    assert rows == [("Cosmos DB vector-ivf index vi", "created"), ("text index ti", "done")]
    assert db.commands == [
        {"createIndexes": "products", "indexes": [cosmos_vector_index("vi", 8, strategy.options)]}
    ]
    coll.indexes = [
        {
            "name": "vi",
            "key": {"embedding": "cosmosSearch"},
            "cosmosSearch": {
                "kind": "vector-ivf",
                "numLists": 2,
                "similarity": "COS",
                "dimensions": 8,
            },
        }
    ]
    assert (await strategy.ensure_indexes(db, "sales", 8))[0][1] == "exists"  # type: ignore[arg-type]
    assert (await strategy.ensure_indexes(db, "sales", 16))[0][1] == "updated"  # type: ignore[arg-type]
    assert ("drop", "vi") in coll.sent


# ----------------------------------------------------------------------- cosmic-works load


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, uri: str, database: str) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith(("COSMIC_WORKS_", "MONGODB_", "DB_CONNECTION")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COSMIC_WORKS_STORE", "mongodb")
    monkeypatch.setenv("COSMIC_WORKS_VECTOR_SEARCH", "exact")
    monkeypatch.setenv("DB_CONNECTION_STRING", uri)  # the original lab's name
    monkeypatch.setenv("MONGODB_DATABASE", database)
    monkeypatch.setenv("COSMIC_WORKS_DATA_DIR", str(tmp_path / "data"))


def test_cli_load_into_mongodb(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mongodb_uri: str,
    mongodb_database: str,
) -> None:
    _env(monkeypatch, tmp_path, mongodb_uri, mongodb_database)
    monkeypatch.setattr(cli, "_build_embeddings", lambda settings: HashingEmbeddings())
    products = tmp_path / "products.json"
    products.write_text(json.dumps([product(i).public_dict() for i in range(70)]))
    assert cli.main(["load", "--products", str(products)]) == 0
    out, err = capsys.readouterr()
    assert f"Catalog {mongodb_uri} database {mongodb_database} (exact search)" in out
    assert re.search(r"products\s+70 written\s+70 in store", out)
    assert "products: 64/70" in err and "products: 70/70" in err  # progress per batch
    assert not (tmp_path / "data" / "catalog.sqlite").exists()
    assert cli.main(["load", "--products", str(products), "--replace"]) == 0
    assert re.search(r"products\s+70 written\s+70 in store", capsys.readouterr().out)
    assert raw_db(mongodb_uri, mongodb_database).products.count_documents({}) == 70


def test_cli_load_fails_in_one_line_when_mongodb_is_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    _env(monkeypatch, tmp_path, f"mongodb://u:{QUOTED}@127.0.0.1:{port}", "cw")
    monkeypatch.setattr(cli, "_build_embeddings", lambda settings: HashingEmbeddings())
    assert cli.main(["load"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: catalog store: MongoDB at 127.0.0.1:{port} is unreachable")
    assert len(err.strip().splitlines()) == 1 and "s3cr" not in err


@pytest.mark.timeout(300)
def test_cli_load_sample_subprocess(
    tmp_path: Path, mongodb_uri: str, mongodb_database: str
) -> None:
    """`cosmic-works load` as users run it: the bundled sample, the real local embeddings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSMIC_WORKS_")}
    env.update(
        COSMIC_WORKS_STORE="mongodb",
        COSMIC_WORKS_VECTOR_SEARCH="exact",
        MONGODB_URI=mongodb_uri,
        MONGODB_DATABASE=mongodb_database,
        COSMIC_WORKS_DATA_DIR=str(tmp_path / "data"),
    )
    command = [str(Path(sys.executable).with_name("cosmic-works")), "load"]
    started = time.monotonic()
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=280
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"products\s+295 written\s+295 in store", done.stdout), done.stdout
    db = raw_db(mongodb_uri, mongodb_database)
    assert db.sales.count_documents({}) > 1000 and db.customers.count_documents({}) > 300
    frame = db.products.find_one({"sku_lower": "fr-r92b-58"})
    assert (frame["name"], frame["price"]) == ("HL Road Frame - Black, 58", 1431.5)
    print(f"cosmic-works load (sample into SecantusDB): {time.monotonic() - started:.1f} s")
