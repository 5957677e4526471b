"""The `CatalogStore` protocol: what the tools and the loader need from any backend.

Backends (SQLite embedded default, MongoDB) embed documents on upsert and queries on search with
the `Embeddings` they were built with, so callers only ever pass text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from catalog.models import COLLECTIONS, Collection, Customer, Product, SalesOrder, _Document

# Metadata filters a caller may use per collection (equality, case-insensitive for text).
FILTER_FIELDS: dict[Collection, frozenset[str]] = {
    "products": frozenset({"categoryName", "categoryId"}),
    "customers": frozenset({"customerId"}),
    "sales": frozenset({"customerId"}),
}

SearchFilter = Mapping[str, str]
ProgressCallback = Callable[[int], None]
FloatMatrix = np.ndarray[Any, np.dtype[np.float32]]


def unit_rows(vectors: Any) -> FloatMatrix:
    """Vectors as float32 rows of length 1 (a zero vector stays zero), for cosine by dot."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def check_collection(collection: str) -> None:
    if collection not in COLLECTIONS:
        raise ValueError(f"unknown collection {collection!r}; expected one of {COLLECTIONS}")


class StoreError(RuntimeError):
    """The catalog store failed (unreachable, corrupt, misconfigured). Maps to HTTP 503."""


class InvalidFilterError(ValueError):
    """A search filter names a field that the collection cannot be filtered on."""


def validate_filter(collection: Collection, flt: SearchFilter | None) -> dict[str, str]:
    """Reject unknown filter fields and non-string values (no operator injection)."""
    if not flt:
        return {}
    allowed = FILTER_FIELDS[collection]
    clean: dict[str, str] = {}
    for key, value in flt.items():
        if key not in allowed:
            raise InvalidFilterError(
                f"cannot filter {collection} on {key!r}; allowed: {', '.join(sorted(allowed))}"
            )
        if not isinstance(value, str):
            raise InvalidFilterError(f"filter value for {key!r} must be a string")
        clean[key] = value
    return clean


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: the document (without vector or secrets) and its similarity score."""

    document: _Document
    score: float


@runtime_checkable
class CatalogStore(Protocol):
    async def get_product_by_id(self, product_id: str) -> Product | None: ...

    async def get_product_by_sku(self, sku: str) -> Product | None:
        """Exact, case-insensitive sku match."""
        ...

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        """Match on `id` or `customerId`."""
        ...

    async def get_sales_order_by_id(self, order_id: str) -> SalesOrder | None: ...

    async def vector_search(
        self,
        collection: Collection,
        query: str,
        k: int = 3,
        filter: SearchFilter | None = None,
    ) -> list[SearchHit]:
        """Nearest documents by cosine similarity of the query's embedding, best first."""
        ...

    async def hybrid_search_products(
        self, query: str, k: int = 3, filter: SearchFilter | None = None
    ) -> list[SearchHit]:
        """Keyword + vector search over products, fused by reciprocal rank."""
        ...

    async def upsert_many(
        self,
        collection: Collection,
        documents: Sequence[_Document],
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Insert or replace by id, embedding each document; returns how many were written."""
        ...

    async def count(self, collection: Collection) -> int: ...

    async def drop(self, collection: Collection | None = None) -> None:
        """Remove one collection's documents, or all of them."""
        ...

    async def ping(self) -> None:
        """Raise `StoreError` when the store is unreachable."""
        ...

    async def aclose(self) -> None: ...
