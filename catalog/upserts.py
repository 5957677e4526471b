"""Embedding and writing documents in batches: what the SQLite and MongoDB stores share.

Both stores validate the same documents, embed the same texts (an order's text names its
customer) in the same batches and refuse the same mistakes; only how one embedded batch is
written differs. A store subclasses `BatchUpserts` and supplies that write, the lookup of
customers' names, and `where` (named in error messages, never with a password).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from langchain_core.embeddings import Embeddings

from catalog.documents import document_text, sales_order_text
from catalog.models import MODEL_BY_COLLECTION, Collection, SalesOrder, _Document
from catalog.store import (
    FloatMatrix,
    ProgressCallback,
    StoreError,
    check_collection,
    unit_rows,
)

#: Documents embedded per call to the embeddings model (and written per transaction).
EMBED_BATCH_SIZE = 64


class BatchUpserts(ABC):
    """`upsert_many` and `upsert_with_vectors` of a `CatalogStore`, over `_write_batch`."""

    #: Documents per write when the vectors are given (no model call to pace the batches).
    precomputed_batch_size: ClassVar[int] = 1000

    _embeddings: Embeddings
    _stale: str | None  # why this store cannot take vectors of our model, if it cannot

    @property
    @abstractmethod
    def where(self) -> str:
        """The store's location for messages (a path, or a host without credentials)."""

    @abstractmethod
    async def _names_of_customers(self, customer_ids: list[str]) -> dict[str, str]:
        """`{customer id or document id: "First Last"}` for the ids that exist."""

    @abstractmethod
    async def _write_batch(
        self,
        collection: Collection,
        batch: Sequence[_Document],
        texts: Sequence[str],
        vectors: FloatMatrix,
    ) -> int:
        """Insert or replace one batch by id, with its texts and unit vectors."""

    def _check_documents(self, collection: Collection, documents: Sequence[_Document]) -> None:
        check_collection(collection)
        if self._stale:
            raise StoreError(self._stale)
        model = MODEL_BY_COLLECTION[collection]
        for doc in documents:
            if not isinstance(doc, model):
                raise TypeError(f"{collection} takes {model.__name__}, not {type(doc).__name__}")

    async def _texts(self, collection: Collection, batch: Sequence[_Document]) -> list[str]:
        """The texts to embed; an order's names its customer when the store knows them."""
        if collection != "sales":
            return [document_text(doc) for doc in batch]
        orders = [doc for doc in batch if isinstance(doc, SalesOrder)]
        names = await self._names_of_customers(sorted({order.customerId for order in orders}))
        return [sales_order_text(order, names.get(order.customerId)) for order in orders]

    async def upsert_many(
        self,
        collection: Collection,
        documents: Sequence[_Document],
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Embed and insert-or-replace by id, `EMBED_BATCH_SIZE` documents at a time.

        `on_progress(n)` receives the number of documents written by each batch (an increment).
        """
        self._check_documents(collection, documents)
        written = 0
        for start in range(0, len(documents), EMBED_BATCH_SIZE):
            batch = documents[start : start + EMBED_BATCH_SIZE]
            texts = await self._texts(collection, batch)
            vectors = unit_rows(await self._embeddings.aembed_documents(list(texts)))
            if vectors.shape[0] != len(batch):
                raise StoreError(
                    f"catalog store {self.where}: embeddings returned {vectors.shape[0]} "
                    f"vectors for {len(batch)} documents"
                )
            written += await self._write_batch(collection, batch, texts, vectors)
            if on_progress is not None:
                on_progress(len(batch))
        return written

    async def upsert_with_vectors(
        self,
        collection: Collection,
        documents: Sequence[_Document],
        vectors: Sequence[Sequence[float]] | FloatMatrix,
        batch_size: int | None = None,
    ) -> int:
        """Insert precomputed vectors (migrations, benchmarks); they must come from this model."""
        self._check_documents(collection, documents)
        matrix = unit_rows(vectors) if len(documents) else np.zeros((0, 0), dtype=np.float32)
        if matrix.shape[0] != len(documents):
            raise ValueError("one vector per document is required")
        size = batch_size or self.precomputed_batch_size
        written = 0
        for start in range(0, len(documents), size):
            batch = documents[start : start + size]
            texts = [document_text(doc) for doc in batch]
            written += await self._write_batch(
                collection, batch, texts, matrix[start : start + size]
            )
        return written
