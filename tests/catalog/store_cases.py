"""Shared material of the catalog store tests: small documents, and one way to open either
backend (SQLite file or MongoDB database) and to look at what it stored."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from catalog.factory import open_catalog_store
from catalog.models import Collection, Customer, Product, SalesOrder
from catalog.store import CatalogStore
from core.settings import Settings

FORBIDDEN_KEYS = {"password", "hash", "salt", "vector", "contentVector", "embedding"}
SECRETS = ("c2VjcmV0", "c2FsdA==")


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
            "password": {"hash": SECRETS[0], "salt": SECRETS[1]},
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


async def fill(store: CatalogStore) -> None:
    """The small catalog most store tests start from: 11 products, 2 customers, 3 orders."""
    await store.upsert_many("products", [product(i) for i in range(10)] + [helmet(1)])
    await store.upsert_many("customers", [customer(1), customer(2)])
    await store.upsert_many("sales", [order(1, "CID-1"), order(2, "CID-2"), order(3, "CID-1")])


@dataclass(frozen=True)
class Backend:
    """One catalog location, opened through the factory as the service does."""

    name: str  # "sqlite" | "mongodb"
    settings: Settings

    @classmethod
    def sqlite(cls, path: Path) -> Backend:
        return cls("sqlite", Settings(_env_file=None, store="sqlite", data_dir=path))

    @classmethod
    def mongodb(cls, uri: str, database: str) -> Backend:
        settings = Settings(
            _env_file=None,
            store="mongodb",
            vector_search="exact",
            mongodb_uri=uri,
            mongodb_database=database,
        )
        return cls("mongodb", settings)

    async def open(
        self, embeddings: Embeddings, *, allow_identity_change: bool = False
    ) -> CatalogStore:
        return await open_catalog_store(
            self.settings, embeddings, allow_identity_change=allow_identity_change
        )

    def stored(self, collection: Collection) -> list[dict[str, Any]]:
        """Every stored record as `{"id", "text", "raw"}`: the embedded text and the raw
        stored form (SQLite row JSON, MongoDB document without its vector)."""
        if self.name == "sqlite":
            with sqlite3.connect(self.settings.sqlite_catalog_path) as conn:
                rows = conn.execute(f"SELECT id, text, doc FROM {collection}").fetchall()
            return [{"id": i, "text": t, "raw": d} for i, t, d in rows]
        import pymongo

        assert self.settings.mongodb_uri is not None
        with pymongo.MongoClient(self.settings.mongodb_uri.get_secret_value()) as client:
            docs = list(client[self.settings.mongodb_database][collection].find({}))
        return [
            {
                "id": doc["_id"],
                "text": doc.get("embedding_text", ""),
                "raw": json.dumps({k: v for k, v in doc.items() if k != "embedding"}, default=str),
            }
            for doc in docs
        ]
