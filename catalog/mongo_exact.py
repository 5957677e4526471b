"""`exact` vector search for the MongoDB store: client-side cosine over a cached matrix.

Why: community MongoDB servers (and SecantusDB in our tests) have neither `$vectorSearch` nor
`cosmosSearch`, and for catalogs up to ~100k documents an exact scan of a float32 matrix held
by each replica is fast and needs no index. Nor have they all `$text`, so hybrid search scores
keywords here too, with the same reciprocal-rank fusion as the SQLite store.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from catalog.models import Collection
from catalog.mongo_vector_search import (
    FILTER_KEYS,
    FUSION_DEPTH,
    PUBLIC_PROJECTION,
    RRF_K,
    SCORE_CHUNK_ROWS,
    STOPWORDS,
    VECTOR_FIELD,
    RawHit,
    clean,
    indexed_terms,
    keyword_terms,
    match_filter,
    rrf,
)
from catalog.store import FloatMatrix, StoreError, unit_rows

INLINE_ROWS = 20_000  # below this, scoring on the event loop costs well under 10 ms

# Fields of a product that keyword search looks at, with weights like the SQLite FTS5 ranking.
_KEYWORD_WEIGHTS = {"name": 10.0, "sku": 10.0, "categoryName": 3.0, "description": 1.0, "tags": 2.0}


def _keyword_fields(raw: Mapping[str, Any]) -> dict[str, str]:
    tags = raw.get("tags")
    tags = tags if isinstance(tags, list) else []
    names = " ".join(str(t.get("name", "")) for t in tags if isinstance(t, dict))
    fields = {name: str(raw.get(name) or "") for name in ("name", "sku", "categoryName")}
    return {**fields, "description": str(raw.get("description") or ""), "tags": names}


@dataclass(slots=True)
class KeywordIndex:
    """Field-weighted, idf-weighted term overlap: `$text` is not available on every server
    (SecantusDB has none), and this ranks a sku or a product name first, as FTS5 does."""

    postings: dict[str, dict[int, float]]
    size: int

    @classmethod
    def build(cls, rows: Sequence[Mapping[str, str]]) -> KeywordIndex:
        postings: dict[str, dict[int, float]] = {}
        for position, fields in enumerate(rows):
            for name, text in fields.items():
                weight = _KEYWORD_WEIGHTS[name]
                for term in indexed_terms(text):
                    slot = postings.setdefault(term, {})
                    slot[position] = max(slot.get(position, 0.0), weight)
        return cls(postings=postings, size=len(rows))

    def search(self, text: str, limit: int) -> list[int]:
        scores: dict[int, float] = {}
        for term in keyword_terms(text):
            # A hyphenated term nobody has whole (`long-sleeve` vs "Long Sleeve") falls back
            # to its words.
            parts = [term] if term in self.postings or "-" not in term else term.split("-")
            for part in parts:
                if part in STOPWORDS:
                    continue
                hits = self.postings.get(part, {})
                idf = math.log(1 + self.size / (1 + len(hits)))
                for position, weight in hits.items():
                    scores[position] = scores.get(position, 0.0) + idf * weight
        return sorted(scores, key=lambda p: (-scores[p], p))[:limit]


@dataclass(slots=True)
class ExactSnapshot:
    """One collection's vectors at one write version (read before the documents)."""

    version: int
    ids: list[Any]
    matrix: FloatMatrix  # (n, d), unit rows
    keys: dict[str, np.ndarray[Any, np.dtype[Any]]]  # stored filter key -> values per row
    keyword_rows: list[dict[str, str]] | None = None
    _keyword: KeywordIndex | None = field(default=None)

    def keyword(self) -> KeywordIndex:
        if self._keyword is None:
            self._keyword = KeywordIndex.build(self.keyword_rows or [])
        return self._keyword

    async def ascores(self, query: FloatMatrix, flt: Mapping[str, str]) -> np.ndarray[Any, Any]:
        """`scores`, on a worker thread for big matrices so the event loop keeps serving."""
        if len(self.matrix) < INLINE_ROWS:
            return self.scores(query, flt)
        return await asyncio.to_thread(self.scores, query, flt)

    def scores(self, query: FloatMatrix, flt: Mapping[str, str]) -> np.ndarray[Any, Any]:
        """Cosine of every row; rows failing the filter get -inf."""
        if self.matrix.shape[1] != query.shape[1]:
            raise StoreError(
                f"catalog store: stored vectors have {self.matrix.shape[1]} dimensions, the "
                f"query has {query.shape[1]}; re-run `cosmic-works load --replace`"
            )
        # Chunked einsum rather than one gemv: steady single-threaded speed on busy cores.
        out = np.empty(len(self.matrix), dtype=np.float32)
        for start in range(0, len(self.matrix), SCORE_CHUNK_ROWS):
            stop = start + SCORE_CHUNK_ROWS
            np.einsum("ij,j->i", self.matrix[start:stop], query[0], out=out[start:stop])
        for name, value in flt.items():
            out[self.keys[name] != value] = -np.inf
        return out


def top_positions(scores: np.ndarray[Any, Any], k: int) -> list[int]:
    """Positions of the k best rows, best first, filtered-out rows (-inf) excluded."""
    part = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    order = part[np.argsort(-scores[part], kind="stable")]
    return [int(p) for p in order if scores[p] != -np.inf]


VersionReader = Callable[[Collection], Awaitable[int]]
IdentityCheck = Callable[[], Awaitable[None]]


class ExactSearch:
    """Client-side cosine over vectors fetched once per replica and cached per collection.

    The cache is keyed by a per-collection write counter in `catalog_meta` that every write
    bumps: one `_id` lookup per search tells whether another replica or process wrote since,
    and the matrix is rebuilt only then (the version is read before the documents, so a
    snapshot never claims more than it holds).
    """

    name = "exact"

    def __init__(self, version: VersionReader, check_identity: IdentityCheck) -> None:
        self._version = version
        self._check_identity = check_identity
        self._snapshots: dict[Collection, ExactSnapshot] = {}
        self._locks: dict[Collection, asyncio.Lock] = {}

    async def ensure_indexes(
        self, db: AsyncDatabase[Any], collection: Collection, dimensions: int
    ) -> list[tuple[str, str]]:
        return []  # nothing beyond the store's own indexes

    def forget(self, collection: Collection | None = None) -> None:
        if collection is None:
            self._snapshots.clear()
        else:
            self._snapshots.pop(collection, None)

    async def snapshot(self, coll: AsyncCollection[Any], collection: Collection) -> ExactSnapshot:
        version = await self._version(collection)
        cached = self._snapshots.get(collection)
        if cached is not None and cached.version == version:
            return cached
        lock = self._locks.setdefault(collection, asyncio.Lock())
        async with lock:
            version = await self._version(collection)
            cached = self._snapshots.get(collection)
            if cached is not None and cached.version == version:
                return cached
            snapshot = await self._build(coll, collection, version)
            self._snapshots[collection] = snapshot
            return snapshot

    async def _build(
        self, coll: AsyncCollection[Any], collection: Collection, version: int
    ) -> ExactSnapshot:
        keys = list(FILTER_KEYS[collection].values())
        projection = dict.fromkeys([VECTOR_FIELD, *keys], 1)
        products = collection == "products"
        if products:
            projection.update(dict.fromkeys(("name", "sku", "categoryName", "description"), 1))
            projection["tags.name"] = 1
        rows = await (coll.find({VECTOR_FIELD: {"$exists": True}}, projection)).to_list(None)
        if rows:
            await self._check_identity()
        ids = [row["_id"] for row in rows]
        if rows:
            lengths = {len(row[VECTOR_FIELD]) for row in rows}
            if len(lengths) != 1:
                raise StoreError(f"catalog store: {collection} holds vectors of mixed dimensions")
            matrix = await asyncio.to_thread(unit_rows, [row[VECTOR_FIELD] for row in rows])
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        values = {
            name: np.array([row.get(name, "") for row in rows], dtype=object) for name in keys
        }
        keyword_rows = [_keyword_fields(row) for row in rows] if products else None
        return ExactSnapshot(version, ids, matrix, values, keyword_rows)

    async def _documents(
        self, coll: AsyncCollection[Any], ranked: list[tuple[Any, float]]
    ) -> list[RawHit]:
        if not ranked:
            return []
        ids = [doc_id for doc_id, _ in ranked]
        rows = await coll.find({"_id": {"$in": ids}}, PUBLIC_PROJECTION).to_list(None)
        by_id = {row["_id"]: row for row in rows}
        # A document deleted between snapshot and fetch is skipped.
        return [(clean(by_id[i]), score) for i, score in ranked if i in by_id]

    async def vector(
        self,
        coll: AsyncCollection[Any],
        collection: Collection,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]:
        snapshot = await self.snapshot(coll, collection)
        if not snapshot.ids:
            return []
        scores = await snapshot.ascores(query, match_filter(collection, flt))
        best = top_positions(scores, k)
        return await self._documents(coll, [(snapshot.ids[p], float(scores[p])) for p in best])

    async def hybrid(
        self,
        coll: AsyncCollection[Any],
        text: str,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]:
        snapshot = await self.snapshot(coll, "products")
        if not snapshot.ids:
            return []
        scores = await snapshot.ascores(query, match_filter("products", flt))
        vector_best = top_positions(scores, max(FUSION_DEPTH, k))
        index = snapshot._keyword
        if index is None:  # built once per snapshot, off the event loop
            index = await asyncio.to_thread(snapshot.keyword)
        keyword = index.search(text, 4 * FUSION_DEPTH)
        keyword = [p for p in keyword if scores[p] != -np.inf][:FUSION_DEPTH]
        # Search is exact, so each keyword hit has a true vector rank too: use it, so a strong
        # keyword match is never outranked by a document found by one list only.
        vector_rank = {p: rank for rank, p in enumerate(vector_best, start=1)}
        for p in keyword:
            vector_rank.setdefault(p, 1 + int(np.count_nonzero(scores > scores[p])))
        fused = rrf([keyword])
        for p, rank in vector_rank.items():
            fused[p] = fused.get(p, 0.0) + 1.0 / (RRF_K + rank)
        ranked = sorted(fused, key=lambda p: (-fused[p], -scores[p]))[:k]
        return await self._documents(coll, [(snapshot.ids[p], float(scores[p])) for p in ranked])
