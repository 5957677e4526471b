"""One `CatalogStore` conformance suite, run against every backend.

SQLite (the embedded default) and MongoDB (a real wire-protocol server, SecantusDB, in `exact`
mode) must behave the same through the protocol: lookups, not found, hostile input, filters,
k clamping, idempotent batched upserts, cache invalidation across instances, drop, secrets and
vectors never returned, embedding identity, hybrid search; and the same retrieval quality on
the bundled sample with the real local model. Backend specifics live in `test_sqlite_store.py`
and `test_mongo_store.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

import catalog.mongo_vector_search
import catalog.sqlite_store
from catalog.models import Product, SalesOrder
from catalog.store import CatalogStore, InvalidFilterError, StoreError
from tests.catalog.store_cases import (
    FORBIDDEN_KEYS,
    SECRETS,
    Backend,
    customer,
    fill,
    order,
    product,
    walk_keys,
)

MAX_K = catalog.sqlite_store.MAX_K
BACKENDS = ["sqlite", pytest.param("mongodb", marks=pytest.mark.slow)]


def test_both_backends_clamp_k_alike() -> None:
    assert catalog.mongo_vector_search.MAX_K == MAX_K == 50


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend.sqlite(tmp_path / "nested" / "dir")
    uri = request.getfixturevalue("mongodb_uri")
    return Backend.mongodb(uri, request.getfixturevalue("mongodb_database"))


@pytest.fixture
async def store(backend: Backend, hashing_embeddings: Embeddings) -> AsyncIterator[CatalogStore]:
    store = await backend.open(hashing_embeddings)
    await fill(store)
    yield store
    await store.aclose()


async def test_implements_protocol_and_pings(store: CatalogStore) -> None:
    assert isinstance(store, CatalogStore)
    await store.ping()


async def test_lookups(store: CatalogStore) -> None:
    found = await store.get_product_by_id("prod-3")
    assert found is not None and found.sku == "FR-T03R-43"
    for variant in ("FR-T03R-43", "fr-t03r-43", "  Fr-T03r-43\t"):
        by_sku = await store.get_product_by_sku(variant)
        assert by_sku is not None and by_sku.id == "prod-3"
    by_id = await store.get_customer_by_id("cust-1")
    by_customer_id = await store.get_customer_by_id("CID-1")
    assert by_id is not None and by_customer_id is not None
    assert by_id.id == by_customer_id.id == "cust-1"
    sale = await store.get_sales_order_by_id("order-2")
    assert sale is not None and sale.customerId == "CID-2"
    assert sale.model_dump() == order(2, "CID-2").model_dump()  # stored as validated


@pytest.mark.parametrize(
    "value",
    ["nope", "", "   ", '{"$ne": null}', "FR-T03R", "' OR 1=1 --", "$where", ".*", "^FR"],
)
async def test_not_found_and_injection_looking_input(store: CatalogStore, value: str) -> None:
    assert await store.get_product_by_sku(value) is None
    assert await store.get_product_by_id(value) is None
    assert await store.get_customer_by_id(value) is None
    assert await store.get_sales_order_by_id(value) is None


async def test_non_string_input_matches_nothing(store: CatalogStore) -> None:
    assert await store.get_product_by_sku({"$ne": None}) is None  # type: ignore[arg-type]
    assert await store.get_product_by_id({"$gt": ""}) is None  # type: ignore[arg-type]
    assert await store.get_customer_by_id(None) is None  # type: ignore[arg-type]
    assert await store.get_sales_order_by_id(["order-1"]) is None  # type: ignore[arg-type]


async def test_vector_search_and_filters(store: CatalogStore) -> None:
    hits = await store.vector_search("products", "helmet that keeps my head safe", k=3)
    assert hits[0].document.id == "helmet-1"
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert -1.0 <= hits[2].score <= hits[0].score <= 1.0
    frames = await store.vector_search(
        "products", "helmet head safe", k=5, filter={"categoryName": "components, ROAD frames"}
    )
    assert len(frames) == 5
    assert all(isinstance(h.document, Product) for h in frames)
    assert {h.document.categoryName for h in frames} == {"Components, Road Frames"}  # type: ignore[union-attr]
    by_category_id = await store.vector_search(
        "products", "frame", k=50, filter={"categoryId": "ACCESSORIES-helmets"}
    )
    assert by_category_id == [] or all(
        h.document.categoryId == "accessories-helmets"  # type: ignore[union-attr]
        for h in by_category_id
    )
    sales = await store.vector_search("sales", "frame", k=10, filter={"customerId": "CID-1"})
    assert sorted(h.document.id for h in sales) == ["order-1", "order-3"]
    customers = await store.vector_search("customers", "Ann", k=10, filter={"customerId": "cid-2"})
    assert [h.document.id for h in customers] == ["cust-2"]
    none = await store.vector_search("products", "frame", filter={"categoryName": '{"$ne": null}'})
    assert none == []


async def test_unknown_filter_field_is_refused(store: CatalogStore) -> None:
    with pytest.raises(InvalidFilterError):
        await store.vector_search("products", "frame", filter={"price": "1"})
    with pytest.raises(InvalidFilterError):
        await store.vector_search("sales", "frame", filter={"customerId": {"$ne": None}})  # type: ignore[dict-item]
    with pytest.raises(InvalidFilterError):
        await store.hybrid_search_products("frame", filter={"sku": "x"})
    with pytest.raises(ValueError):
        await store.vector_search("orders", "frame")  # type: ignore[arg-type]


async def test_k_is_clamped(store: CatalogStore) -> None:
    assert len(await store.vector_search("products", "frame", k=0)) == 1
    assert len(await store.vector_search("products", "frame", k=-5)) == 1
    assert len(await store.vector_search("products", "frame", k=1000)) == 11  # all there is
    many = [product(i) for i in range(100, 170)]
    await store.upsert_many("products", many)
    assert len(await store.vector_search("products", "frame", k=1000)) == MAX_K
    assert len(await store.hybrid_search_products("frame", k=1000)) == MAX_K


async def test_hybrid_search_finds_sku_text(store: CatalogStore) -> None:
    hits = await store.hybrid_search_products("what does FR-T07R-47 cost?", k=3)
    assert hits[0].document.id == "prod-7"
    filtered = await store.hybrid_search_products(
        "FR-T07R-47", k=3, filter={"categoryName": "Accessories, Helmets"}
    )
    assert [h.document.id for h in filtered] == ["helmet-1"]
    assert await store.hybrid_search_products("", k=3)  # no keywords: vector ranking only


async def test_upsert_is_idempotent(store: CatalogStore) -> None:
    before = {c: await store.count(c) for c in ("products", "customers", "sales")}
    assert before == {"products": 11, "customers": 2, "sales": 3}
    progress: list[int] = []
    written = await store.upsert_many("products", [product(i) for i in range(10)], progress.append)
    assert written == 10 and sum(progress) == 10
    assert {c: await store.count(c) for c in before} == before
    changed = product(3, price=999.0)
    await store.upsert_many("products", [changed])
    found = await store.get_product_by_id("prod-3")
    assert found is not None and found.price == 999.0


async def test_upsert_batches_report_progress(store: CatalogStore) -> None:
    progress: list[int] = []
    await store.upsert_many("products", [product(i) for i in range(200, 330)], progress.append)
    assert progress == [64, 64, 2]
    assert await store.upsert_many("products", []) == 0


async def test_upsert_refuses_wrong_model(store: CatalogStore) -> None:
    with pytest.raises(TypeError):
        await store.upsert_many("products", [customer(9)])


async def test_cache_invalidation_same_and_second_instance(
    store: CatalogStore, backend: Backend, hashing_embeddings: Embeddings
) -> None:
    query = "zebra striped unicorn frame"
    assert (await store.vector_search("products", query, k=1))[0].document.id != "zebra"
    zebra = product(50, name="Zebra Striped Unicorn Frame", id="zebra", sku="ZB-1")
    await store.upsert_many("products", [zebra])
    assert (await store.vector_search("products", query, k=1))[0].document.id == "zebra"

    other = await backend.open(hashing_embeddings)
    try:
        assert (await other.vector_search("products", query, k=1))[0].document.id == "zebra"
        changed = product(50, name="Plain Frame", id="zebra", sku="ZB-1")
        gnu = product(51, name="Gnu Horned Frame", id="gnu", sku="GN-1")
        await other.upsert_many("products", [changed, gnu])
    finally:
        await other.aclose()
    # The first instance had the old matrix cached: it must notice the other's write.
    assert (await store.vector_search("products", "gnu horned", k=1))[0].document.id == "gnu"
    hit = (await store.vector_search("products", query, k=1))[0]
    assert hit.document.id != "zebra" or hit.document.name == "Plain Frame"  # type: ignore[union-attr]
    assert (await store.hybrid_search_products("GN-1", k=1))[0].document.id == "gnu"


async def test_drop(store: CatalogStore) -> None:
    await store.drop("sales")
    assert await store.count("sales") == 0
    assert await store.count("products") == 11
    assert await store.vector_search("sales", "frame") == []
    await store.drop()
    assert [await store.count(c) for c in ("products", "customers", "sales")] == [0, 0, 0]
    assert await store.vector_search("products", "frame") == []
    assert await store.hybrid_search_products("FR-T07R-47") == []
    assert await store.get_product_by_sku("FR-T07R-47") is None
    await store.upsert_many("products", [product(1)])  # usable again after a drop
    assert [h.document.id for h in await store.vector_search("products", "frame")] == ["prod-1"]


async def test_no_secret_or_vector_is_ever_returned(store: CatalogStore, backend: Backend) -> None:
    documents: list[Any] = [
        await store.get_customer_by_id("cust-1"),
        await store.get_customer_by_id("CID-2"),
        await store.get_sales_order_by_id("order-1"),
        await store.get_product_by_id("prod-1"),
        await store.get_product_by_sku("hl-u509-1"),
    ]
    for collection in ("products", "customers", "sales"):
        documents += [h.document for h in await store.vector_search(collection, "Ann", k=50)]
    documents += [h.document for h in await store.hybrid_search_products("frame", k=50)]
    assert len(documents) > 10
    for document in documents:
        assert document is not None
        keys = walk_keys(document.public_dict()) | walk_keys(document.model_dump())
        assert not keys & FORBIDDEN_KEYS, keys & FORBIDDEN_KEYS
        assert not {k for k in keys if k.endswith("_lower") or k.startswith("_")}, keys
    stored = " ".join(row["raw"] for row in backend.stored("customers"))
    assert not any(secret in stored for secret in SECRETS)


async def test_sales_text_names_the_customer(store: CatalogStore, backend: Backend) -> None:
    texts = {row["id"]: row["text"] for row in backend.stored("sales")}
    assert "Ann1 Lee" in texts["order-1"] and "Ann2 Lee" in texts["order-2"]


async def test_embedding_identity_mismatch_is_refused(
    store: CatalogStore, backend: Backend
) -> None:
    await store.aclose()
    other = DeterministicFakeEmbedding(size=384)
    with pytest.raises(StoreError, match="load --replace"):
        await backend.open(other)
    # `load --replace` opens it anyway, may not search or write until everything is dropped.
    replacing = await backend.open(other, allow_identity_change=True)
    try:
        assert await replacing.get_product_by_id("prod-1") is not None
        with pytest.raises(StoreError, match="load --replace"):
            await replacing.vector_search("products", "frame")
        with pytest.raises(StoreError):
            await replacing.upsert_many("products", [product(1)])
        await replacing.drop()
        await replacing.upsert_many("products", [product(1)])
        assert len(await replacing.vector_search("products", "frame")) == 1
    finally:
        await replacing.aclose()
    reopened = await backend.open(other)
    try:
        assert await reopened.count("products") == 1
    finally:
        await reopened.aclose()


async def test_empty_store_adopts_new_identity(
    backend: Backend, hashing_embeddings: Embeddings
) -> None:
    first = await backend.open(hashing_embeddings)
    await first.aclose()
    store = await backend.open(DeterministicFakeEmbedding(size=8))
    try:
        await store.upsert_many("products", [product(1)])
        assert len(await store.vector_search("products", "x")) == 1
    finally:
        await store.aclose()


async def test_closed_store_raises(backend: Backend, hashing_embeddings: Embeddings) -> None:
    store = await backend.open(hashing_embeddings)
    await store.aclose()
    await store.aclose()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.count("products")


# ------------------------------------------------------------------ the real model and sample

SAMPLE = pytest.mark.timeout(900)  # the first run embeds the whole sample


@pytest.fixture(scope="session")
def mongodb_sample_database(mongodb_uri: str, local_embeddings: Embeddings) -> Iterator[str]:
    """The bundled sample loaded once per session into its own database (a few seconds: the
    sample's vectors ship precomputed)."""
    from catalog.loader import load_catalog

    name = f"cw_sample_{hashlib.sha1(mongodb_uri.encode()).hexdigest()[:8]}"
    backend = Backend.mongodb(mongodb_uri, name)

    async def build() -> None:
        store = await backend.open(local_embeddings, allow_identity_change=True)
        try:
            await store.drop()
            report = await load_catalog(store)
            assert not report.rejects, report.rejects[:5]
        finally:
            await store.aclose()

    # Requested from inside a running event loop (an async fixture): load on a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, build()).result()
    yield name


@pytest.fixture(params=BACKENDS)
async def sample_store(
    request: pytest.FixtureRequest, tmp_path: Path, local_embeddings: Embeddings
) -> AsyncIterator[CatalogStore]:
    if request.param == "sqlite":
        sample_path: Path = request.getfixturevalue("sample_store_path")
        shutil.copy(sample_path, tmp_path / "catalog.sqlite")
        backend = Backend.sqlite(tmp_path)
    else:
        uri = request.getfixturevalue("mongodb_uri")
        backend = Backend.mongodb(uri, request.getfixturevalue("mongodb_sample_database"))
    store = await backend.open(local_embeddings)
    yield store
    await store.aclose()


@SAMPLE
async def test_retrieval_helmet(sample_store: CatalogStore) -> None:
    query = "something to keep my head safe"
    for hits in (
        await sample_store.vector_search("products", query, k=3),
        await sample_store.hybrid_search_products(query, k=3),
    ):
        assert hits[0].document.categoryName == "Accessories, Helmets"  # type: ignore[union-attr]


@SAMPLE
async def test_retrieval_red_road_frame(sample_store: CatalogStore) -> None:
    query = "red road frame size 56"
    hybrid = await sample_store.hybrid_search_products(query, k=3)
    assert hybrid[0].document.sku == "FR-R92R-56"  # type: ignore[union-attr]
    # Pure vector search ranks it close to the other red frames; the keyword half settles it.
    vector = await sample_store.vector_search("products", query, k=3)
    assert "FR-R92R-56" in [h.document.sku for h in vector]  # type: ignore[union-attr]
    assert all("Red" in h.document.name for h in vector)  # type: ignore[union-attr]


@SAMPLE
async def test_hybrid_finds_acceptance_sku(sample_store: CatalogStore) -> None:
    hits = await sample_store.hybrid_search_products(
        "What was the price of the product with sku FR-R92B-58", k=3
    )
    top = hits[0].document
    assert isinstance(top, Product)
    assert (top.sku, top.name, top.price) == ("FR-R92B-58", "HL Road Frame - Black, 58", 1431.5)
    by_sku = await sample_store.get_product_by_sku("fr-r92b-58 ")
    assert by_sku is not None and by_sku.price == 1431.5


@SAMPLE
async def test_sales_are_searchable_by_customer_name(sample_store: CatalogStore) -> None:
    order = (await sample_store.vector_search("sales", "order", k=1))[0].document
    assert isinstance(order, SalesOrder)
    customer = await sample_store.get_customer_by_id(order.customerId)
    assert customer is not None
    hits = await sample_store.vector_search(
        "sales", f"orders of {customer.full_name}", k=10, filter={"customerId": order.customerId}
    )
    assert hits and all(h.document.customerId == order.customerId for h in hits)  # type: ignore[union-attr]


@SAMPLE
async def test_sample_has_no_secrets(sample_store: CatalogStore) -> None:
    for collection in ("customers", "sales"):
        for hit in await sample_store.vector_search(collection, "customer in Seattle", k=50):
            assert not walk_keys(hit.document.public_dict()) & FORBIDDEN_KEYS
