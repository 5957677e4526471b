"""The embedded SQLite store: lookups, filters, caching across instances, identity, secrets."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from catalog.models import Customer, Product, SalesOrder
from catalog.sqlite_store import MAX_K, SqliteCatalogStore, open_sqlite_store
from catalog.store import CatalogStore, InvalidFilterError, StoreError

FORBIDDEN_KEYS = {"password", "hash", "salt", "vector", "contentVector", "embedding"}


def product(i: int, category: str = "Components, Road Frames", **extra: Any) -> Product:
    colour = "Red" if i % 2 else "Black"
    data = {
        "id": f"prod-{i}",
        "categoryId": category.lower().replace(", ", "-"),
        "categoryName": category,
        "sku": f"FR-T{i:02d}{colour[0]}-{40 + i}",
        "name": f"Test Road Frame - {colour}, {40 + i}",
        "description": f"A {colour.lower()} aluminium road frame, size {40 + i}.",
        "price": 100.0 + i,
        "tags": [{"_id": "t1", "name": "Frame"}],
        **extra,
    }
    return Product.model_validate(data)


def helmet(i: int) -> Product:
    return Product.model_validate(
        {
            "id": f"helmet-{i}",
            "categoryName": "Accessories, Helmets",
            "sku": f"HL-U509-{i}",
            "name": f"Sport-100 Helmet {i}",
            "description": "Protective bike helmet that keeps your head safe.",
            "price": 34.99,
        }
    )


def customer(i: int) -> Customer:
    return Customer.model_validate(
        {
            "type": "customer",
            "id": f"cust-{i}",
            "customerId": f"CID-{i}",
            "firstName": f"Ann{i}",
            "lastName": "Lee",
            "emailAddress": f"ann{i}@example.com",
            "addresses": [{"city": "Seattle", "country": "US", "location": {"hash": "x"}}],
            "password": {"hash": "c2VjcmV0", "salt": "c2FsdA=="},
            "contentVector": [0.1, 0.2],
        }
    )


def order(i: int, customer_id: str) -> SalesOrder:
    return SalesOrder.model_validate(
        {
            "type": "salesOrder",
            "id": f"order-{i}",
            "customerId": customer_id,
            "orderDate": "2024-05-01T00:00:00",
            "details": [
                {"sku": "FR-T01R-41", "name": "Test Road Frame", "price": 101, "quantity": 1}
            ],
            "vector": [1.0, 2.0],
        }
    )


def walk_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        keys = set(value)
        for item in value.values():
            keys |= walk_keys(item)
        return keys
    if isinstance(value, list):
        return set().union(*(walk_keys(item) for item in value)) if value else set()
    return set()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "catalog.sqlite"


@pytest.fixture
async def store(db_path: Path, hashing_embeddings: Embeddings) -> AsyncIterator[SqliteCatalogStore]:
    store = await open_sqlite_store(db_path, hashing_embeddings)
    await store.upsert_many("products", [product(i) for i in range(10)] + [helmet(1)])
    await store.upsert_many("customers", [customer(1), customer(2)])
    await store.upsert_many("sales", [order(1, "CID-1"), order(2, "CID-2"), order(3, "CID-1")])
    yield store
    await store.aclose()


async def test_implements_protocol_and_creates_parent_dirs(
    store: SqliteCatalogStore, db_path: Path
) -> None:
    assert isinstance(store, CatalogStore)
    assert db_path.exists()  # noqa: ASYNC240
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.ping()


async def test_lookups(store: SqliteCatalogStore) -> None:
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


@pytest.mark.parametrize("value", ["nope", "", "   ", '{"$ne": null}', "FR-T03R", "' OR 1=1 --"])
async def test_not_found_and_injection_looking_input(store: SqliteCatalogStore, value: str) -> None:
    assert await store.get_product_by_sku(value) is None
    assert await store.get_product_by_id(value) is None
    assert await store.get_customer_by_id(value) is None
    assert await store.get_sales_order_by_id(value) is None


async def test_non_string_input_matches_nothing(store: SqliteCatalogStore) -> None:
    assert await store.get_product_by_sku({"$ne": None}) is None  # type: ignore[arg-type]
    assert await store.get_customer_by_id(None) is None  # type: ignore[arg-type]


async def test_vector_search_and_filters(store: SqliteCatalogStore) -> None:
    hits = await store.vector_search("products", "helmet that keeps my head safe", k=3)
    assert hits[0].document.id == "helmet-1"
    assert hits[0].score >= hits[1].score >= hits[2].score
    frames = await store.vector_search(
        "products", "helmet head safe", k=5, filter={"categoryName": "components, ROAD frames"}
    )
    assert len(frames) == 5
    assert all(isinstance(h.document, Product) for h in frames)
    assert {h.document.categoryName for h in frames} == {"Components, Road Frames"}  # type: ignore[union-attr]
    sales = await store.vector_search("sales", "frame", k=10, filter={"customerId": "CID-1"})
    assert sorted(h.document.id for h in sales) == ["order-1", "order-3"]
    none = await store.vector_search("products", "frame", filter={"categoryName": '{"$ne": null}'})
    assert none == []


async def test_unknown_filter_field_is_refused(store: SqliteCatalogStore) -> None:
    with pytest.raises(InvalidFilterError):
        await store.vector_search("products", "frame", filter={"price": "1"})
    with pytest.raises(InvalidFilterError):
        await store.vector_search("sales", "frame", filter={"customerId": {"$ne": None}})  # type: ignore[dict-item]
    with pytest.raises(InvalidFilterError):
        await store.hybrid_search_products("frame", filter={"sku": "x"})


async def test_k_is_clamped(store: SqliteCatalogStore, hashing_embeddings: Embeddings) -> None:
    assert len(await store.vector_search("products", "frame", k=0)) == 1
    assert len(await store.vector_search("products", "frame", k=-5)) == 1
    assert len(await store.vector_search("products", "frame", k=1000)) == 11  # all there is
    many = [product(i) for i in range(100, 170)]
    await store.upsert_many("products", many)
    assert len(await store.vector_search("products", "frame", k=1000)) == MAX_K
    assert len(await store.hybrid_search_products("frame", k=1000)) == MAX_K


async def test_hybrid_search_finds_sku_text(store: SqliteCatalogStore) -> None:
    hits = await store.hybrid_search_products("what does FR-T07R-47 cost?", k=3)
    assert hits[0].document.id == "prod-7"
    filtered = await store.hybrid_search_products(
        "FR-T07R-47", k=3, filter={"categoryName": "Accessories, Helmets"}
    )
    assert [h.document.id for h in filtered] == ["helmet-1"]
    assert await store.hybrid_search_products("", k=3)  # no keywords: vector ranking only


async def test_hybrid_search_token_fallback_without_fts5(
    store: SqliteCatalogStore,
) -> None:
    store._fts = False  # as on a Python whose sqlite lacks FTS5
    hits = await store.hybrid_search_products("FR-T07R-47 price", k=3)
    assert hits[0].document.id == "prod-7"


async def test_upsert_is_idempotent(store: SqliteCatalogStore) -> None:
    before = {c: await store.count(c) for c in ("products", "customers", "sales")}
    assert before == {"products": 11, "customers": 2, "sales": 3}
    progress: list[int] = []
    written = await store.upsert_many("products", [product(i) for i in range(10)], progress.append)
    assert written == 10 and sum(progress) == 10
    assert {c: await store.count(c) for c in before} == before


async def test_upsert_batches_report_progress(store: SqliteCatalogStore) -> None:
    progress: list[int] = []
    await store.upsert_many("products", [product(i) for i in range(200, 330)], progress.append)
    assert progress == [64, 64, 2]


async def test_upsert_refuses_wrong_model(store: SqliteCatalogStore) -> None:
    with pytest.raises(TypeError):
        await store.upsert_many("products", [customer(9)])


async def test_cache_invalidation_same_and_second_instance(
    store: SqliteCatalogStore, db_path: Path, hashing_embeddings: Embeddings
) -> None:
    query = "zebra striped unicorn frame"
    assert (await store.vector_search("products", query, k=1))[0].document.id != "zebra"
    zebra = product(50, name="Zebra Striped Unicorn Frame", id="zebra", sku="ZB-1")
    await store.upsert_many("products", [zebra])
    assert (await store.vector_search("products", query, k=1))[0].document.id == "zebra"

    async with await open_sqlite_store(db_path, hashing_embeddings) as other:
        assert (await other.vector_search("products", query, k=1))[0].document.id == "zebra"
        changed = product(50, name="Plain Frame", id="zebra", sku="ZB-1")
        gnu = product(51, name="Gnu Horned Frame", id="gnu", sku="GN-1")
        await other.upsert_many("products", [changed, gnu])
    # The first instance had the old matrix cached: it must notice the other's write.
    assert (await store.vector_search("products", "gnu horned", k=1))[0].document.id == "gnu"
    hit = (await store.vector_search("products", query, k=1))[0]
    assert hit.document.id != "zebra" or hit.document.name == "Plain Frame"  # type: ignore[union-attr]
    assert (await store.hybrid_search_products("GN-1", k=1))[0].document.id == "gnu"


async def test_drop(store: SqliteCatalogStore) -> None:
    await store.drop("sales")
    assert await store.count("sales") == 0
    assert await store.count("products") == 11
    assert await store.vector_search("sales", "frame") == []
    await store.drop()
    assert [await store.count(c) for c in ("products", "customers", "sales")] == [0, 0, 0]
    assert await store.vector_search("products", "frame") == []
    assert await store.hybrid_search_products("FR-T07R-47") == []
    assert await store.get_product_by_sku("FR-T07R-47") is None


async def test_no_secret_or_vector_is_ever_returned(store: SqliteCatalogStore) -> None:
    documents: list[Any] = [
        await store.get_customer_by_id("cust-1"),
        await store.get_sales_order_by_id("order-1"),
        await store.get_product_by_id("prod-1"),
    ]
    for collection in ("products", "customers", "sales"):
        documents += [h.document for h in await store.vector_search(collection, "Ann", k=50)]
    documents += [h.document for h in await store.hybrid_search_products("frame", k=50)]
    assert len(documents) > 10
    for document in documents:
        assert document is not None
        keys = walk_keys(document.public_dict()) | walk_keys(document.model_dump())
        assert not keys & FORBIDDEN_KEYS, keys & FORBIDDEN_KEYS
    with sqlite3.connect(store.path) as conn:
        raw = " ".join(row[0] for row in conn.execute("SELECT doc FROM customers"))
    assert "c2VjcmV0" not in raw and "c2FsdA==" not in raw


async def test_sales_text_names_the_customer(store: SqliteCatalogStore) -> None:
    with sqlite3.connect(store.path) as conn:
        text = conn.execute("SELECT text FROM sales WHERE id = 'order-1'").fetchone()[0]
    assert "Ann1 Lee" in text


async def test_embedding_identity_mismatch_is_refused(
    store: SqliteCatalogStore, db_path: Path
) -> None:
    await store.aclose()
    other = DeterministicFakeEmbedding(size=384)
    with pytest.raises(StoreError, match="load --replace"):
        await open_sqlite_store(db_path, other)
    # `load --replace` opens it anyway, may not search or write until everything is dropped.
    replacing = await open_sqlite_store(db_path, other, allow_identity_change=True)
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
    async with await open_sqlite_store(db_path, other) as reopened:
        assert await reopened.count("products") == 1


async def test_empty_store_adopts_new_identity(
    db_path: Path, hashing_embeddings: Embeddings
) -> None:
    async with await open_sqlite_store(db_path, hashing_embeddings):
        pass
    async with await open_sqlite_store(db_path, DeterministicFakeEmbedding(size=8)) as store:
        await store.upsert_many("products", [product(1)])
        assert len(await store.vector_search("products", "x")) == 1


async def test_sqlite_errors_become_store_errors(
    tmp_path: Path, hashing_embeddings: Embeddings
) -> None:
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match=str(bad)):
        await open_sqlite_store(bad, hashing_embeddings)


async def test_closed_store_raises(db_path: Path, hashing_embeddings: Embeddings) -> None:
    store = await open_sqlite_store(db_path, hashing_embeddings)
    await store.aclose()
    await store.aclose()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.count("products")


# ------------------------------------------------------------------ the real model and sample


@pytest.fixture
async def sample_store(
    sample_store_path: Path, tmp_path: Path, local_embeddings: Embeddings
) -> AsyncIterator[SqliteCatalogStore]:
    copy = tmp_path / "catalog.sqlite"
    shutil.copy(sample_store_path, copy)
    async with await open_sqlite_store(copy, local_embeddings) as store:
        yield store


SAMPLE = pytest.mark.timeout(900)  # the first run embeds the whole sample


@SAMPLE
async def test_retrieval_helmet(sample_store: SqliteCatalogStore) -> None:
    query = "something to keep my head safe"
    for hits in (
        await sample_store.vector_search("products", query, k=3),
        await sample_store.hybrid_search_products(query, k=3),
    ):
        assert hits[0].document.categoryName == "Accessories, Helmets"  # type: ignore[union-attr]


@SAMPLE
async def test_retrieval_red_road_frame(sample_store: SqliteCatalogStore) -> None:
    query = "red road frame size 56"
    hybrid = await sample_store.hybrid_search_products(query, k=3)
    assert hybrid[0].document.sku == "FR-R92R-56"  # type: ignore[union-attr]
    # Pure vector search ranks it close to the other red frames; the keyword half settles it.
    vector = await sample_store.vector_search("products", query, k=3)
    assert "FR-R92R-56" in [h.document.sku for h in vector]  # type: ignore[union-attr]
    assert all("Red" in h.document.name for h in vector)  # type: ignore[union-attr]


@SAMPLE
async def test_hybrid_finds_acceptance_sku(sample_store: SqliteCatalogStore) -> None:
    hits = await sample_store.hybrid_search_products(
        "What was the price of the product with sku FR-R92B-58", k=3
    )
    top = hits[0].document
    assert isinstance(top, Product)
    assert (top.sku, top.name, top.price) == ("FR-R92B-58", "HL Road Frame - Black, 58", 1431.5)
    by_sku = await sample_store.get_product_by_sku("fr-r92b-58 ")
    assert by_sku is not None and by_sku.price == 1431.5


@SAMPLE
async def test_sales_are_searchable_by_customer_name(sample_store: SqliteCatalogStore) -> None:
    order = (await sample_store.vector_search("sales", "order", k=1))[0].document
    assert isinstance(order, SalesOrder)
    customer = await sample_store.get_customer_by_id(order.customerId)
    assert customer is not None
    hits = await sample_store.vector_search(
        "sales", f"orders of {customer.full_name}", k=10, filter={"customerId": order.customerId}
    )
    assert hits and all(h.document.customerId == order.customerId for h in hits)  # type: ignore[union-attr]


@SAMPLE
async def test_sample_has_no_secrets(sample_store: SqliteCatalogStore) -> None:
    for collection in ("customers", "sales"):
        for hit in await sample_store.vector_search(collection, "customer in Seattle", k=50):
            assert not walk_keys(hit.document.public_dict()) & FORBIDDEN_KEYS
