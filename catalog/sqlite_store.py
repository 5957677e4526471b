"""Embedded catalog store: one SQLite file, exact cosine search with numpy.

Why this shape: the default deployment has no server and no key. SQLite (stdlib, no extensions:
this Python cannot load sqlite-vec) holds each document's JSON and its float32 vector; search is
exact over a normalised matrix cached per collection, which is ample up to ~100k documents. The
cache is rebuilt when a per-collection write counter in `meta` moves, so writes made by another
store instance, process or replica on the same file are seen on the next search.

Threads: every blocking call runs off the event loop. Writes go through one dedicated thread
(SQLite has a single writer anyway); reads use a small pool, each thread with its own connection.
"""

from __future__ import annotations

import asyncio
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
from langchain_core.embeddings import Embeddings

from catalog.models import (
    COLLECTIONS,
    MODEL_BY_COLLECTION,
    Collection,
    Customer,
    Product,
    SalesOrder,
    _Document,
)
from catalog.store import (
    FloatMatrix,
    SearchFilter,
    SearchHit,
    StoreError,
    check_collection,
    unit_rows,
    validate_filter,
)
from catalog.upserts import BatchUpserts

MAX_K = 50
RRF_K = 60  # the usual reciprocal-rank-fusion constant
FUSION_DEPTH = 50  # candidates taken from each ranking before fusion
SCHEMA_VERSION = 1
READ_THREADS = 4
SCORE_CHUNK_ROWS = 8192  # 8192 x 384 float32 = 12 MiB per einsum call

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Spec:
    """How one collection maps onto its table: extra indexed columns and filterable fields."""

    columns: tuple[str, ...]
    filters: dict[str, str]  # filter field (public name) -> lower-cased key column
    values: Callable[[Any], tuple[str, ...]]


def _key(value: str | None) -> str:
    return (value or "").strip().lower()


_SPECS: dict[Collection, _Spec] = {
    "products": _Spec(
        columns=("sku_key", "category_name_key", "category_id_key"),
        filters={"categoryName": "category_name_key", "categoryId": "category_id_key"},
        values=lambda p: (_key(p.sku), _key(p.categoryName), _key(p.categoryId)),
    ),
    "customers": _Spec(
        columns=("customer_id", "customer_id_key"),
        filters={"customerId": "customer_id_key"},
        values=lambda c: (c.customerId or c.id, _key(c.customerId or c.id)),
    ),
    "sales": _Spec(
        columns=("customer_id", "customer_id_key"),
        filters={"customerId": "customer_id_key"},
        values=lambda s: (s.customerId, _key(s.customerId)),
    ),
}

_INDEXES = (
    "CREATE INDEX IF NOT EXISTS products_sku ON products(sku_key)",
    "CREATE INDEX IF NOT EXISTS products_category ON products(category_name_key)",
    "CREATE INDEX IF NOT EXISTS customers_customer_id ON customers(customer_id)",
    "CREATE INDEX IF NOT EXISTS sales_customer_id ON sales(customer_id)",
)

# Keyword search over products: FTS5 when this sqlite has it, else a token-overlap scorer.
_FTS_TABLE = "products_fts"
_FTS_WEIGHTS = (10.0, 10.0, 3.0, 1.0, 2.0)  # name, sku, category, description, tags
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have i in is it me my of on or that the this to "
    "was what which who with you your do does did can any some".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")
_QUERY_TERM = re.compile(r"[\w][\w\-./]*")


def fts5_available() -> bool:
    """Whether this Python's sqlite3 was built with FTS5 (not guaranteed everywhere)."""
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    except sqlite3.Error:
        return False
    return True


def _embedding_identity(embeddings: Embeddings) -> str:
    """Name of the embedding model; vectors from different models must never be mixed."""
    try:
        from catalog.embeddings import embedding_identity
    except ModuleNotFoundError as exc:  # the embeddings package is optional for fakes in tests
        if exc.name not in {"catalog.embeddings"}:
            raise
        dims = getattr(embeddings, "dimensions", getattr(embeddings, "size", "?"))
        return f"{type(embeddings).__name__}:{dims}"
    return embedding_identity(embeddings)


@dataclass(slots=True)
class _Snapshot:
    """A collection's searchable state at one write version."""

    version: int
    rowids: np.ndarray[Any, np.dtype[np.int64]]
    matrix: FloatMatrix  # (n, d), unit rows
    keys: dict[str, np.ndarray[Any, np.dtype[Any]]]  # filter field -> lower-cased values
    _positions: dict[int, int] | None = None
    _inverted: dict[str, list[int]] | None = field(default=None)

    def mask(self, flt: dict[str, str]) -> np.ndarray[Any, np.dtype[np.bool_]] | None:
        """Rows passing every filter (case-insensitive equality); None when unfiltered."""
        mask: np.ndarray[Any, np.dtype[np.bool_]] | None = None
        for name, value in flt.items():
            match = self.keys[name] == _key(value)
            mask = match if mask is None else mask & match
        return mask

    def positions(self) -> dict[int, int]:
        if self._positions is None:
            self._positions = {int(r): i for i, r in enumerate(self.rowids)}
        return self._positions


class SqliteCatalogStore(BatchUpserts):
    """`CatalogStore` over one SQLite file. Build it with `open_sqlite_store`."""

    def __init__(self, path: Path, embeddings: Embeddings) -> None:
        self._path = path
        self._embeddings = embeddings
        self._identity = _embedding_identity(embeddings)
        self._fts = fts5_available()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._reader = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="catalog-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="catalog-write")
        self._snapshots: dict[Collection, _Snapshot] = {}
        self._snapshot_locks = {name: threading.Lock() for name in COLLECTIONS}
        self._stale: str | None = None  # why vectors cannot be searched (other model)
        self._closed = False

    # ----------------------------------------------------------------------------- plumbing

    precomputed_batch_size = 5000

    @property
    def path(self) -> Path:
        return self._path

    @property
    def where(self) -> str:
        return str(self._path)

    @property
    def embedding_identity(self) -> str:
        return self._identity

    @property
    def keyword_backend(self) -> str:
        """`fts5` or `tokens` (the fallback when this sqlite lacks FTS5)."""
        return "fts5" if self._fts else "tokens"

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so `aclose` can close it; it is used by one thread.
            conn = sqlite3.connect(
                self._path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._conn_lock:
                self._connections.append(conn)
        return conn

    def _error(self, exc: BaseException) -> StoreError:
        return StoreError(f"catalog store {self._path}: {exc}")

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError(f"catalog store {self._path}: the store is closed")

        def call() -> T:
            try:
                return fn(self._connection(), *args)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, call)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._reader, fn, *args)

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._writer, fn, *args)

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[None]:
        conn.execute(f"BEGIN {mode}")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ----------------------------------------------------------------------------- schema

    def _open_sync(self, conn: sqlite3.Connection, allow_identity_change: bool) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction(conn):
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
            for name, spec in _SPECS.items():
                extra = "".join(f", {column} TEXT NOT NULL" for column in spec.columns)
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} (id TEXT NOT NULL UNIQUE{extra}, "
                    "text TEXT NOT NULL, doc TEXT NOT NULL, vector BLOB NOT NULL)"
                )
            for statement in _INDEXES:
                conn.execute(statement)
            if self._fts:
                conn.execute(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS {_FTS_TABLE} "
                    "USING fts5(name, sku, category, description, tags)"
                )
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )
            stored = self._meta(conn, "embedding_identity")
            if stored is not None and stored != self._identity and self._has_vectors(conn):
                message = (
                    f"catalog store {self._path}: its vectors were computed by {stored!r} but "
                    f"the configured embeddings are {self._identity!r}; re-run "
                    "`cosmic-works load --replace` to re-embed the catalog, or set "
                    "COSMIC_WORKS_EMBEDDINGS back to the model it was built with"
                )
                if not allow_identity_change:
                    raise StoreError(message)
                self._stale = message
            else:
                self._stamp(conn)

    def _meta(self, conn: sqlite3.Connection, key: str) -> Any:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _has_vectors(self, conn: sqlite3.Connection) -> bool:
        return any(
            conn.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() is not None
            for name in COLLECTIONS
        )

    def _stamp(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('embedding_identity', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (self._identity,),
        )
        dims = getattr(self._embeddings, "dimensions", None)
        if isinstance(dims, int):
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('dimensions', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (dims,),
            )
        else:
            conn.execute("DELETE FROM meta WHERE key = 'dimensions'")
        self._stale = None

    @staticmethod
    def _bump(conn: sqlite3.Connection, collection: Collection) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, 1) "
            "ON CONFLICT(key) DO UPDATE SET value = value + 1",
            (f"version:{collection}",),
        )

    def _version(self, conn: sqlite3.Connection, collection: Collection) -> int:
        value = self._meta(conn, f"version:{collection}")
        return int(value or 0)

    # ----------------------------------------------------------------------------- lookups

    def _fetch_one(self, conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Any:
        row = conn.execute(sql, params).fetchone()
        return None if row is None else orjson.loads(row[0])

    async def _get(
        self, collection: Collection, where: str, params: tuple[str, ...]
    ) -> _Document | None:
        raw = await self._read(
            self._fetch_one, f"SELECT doc FROM {collection} WHERE {where} LIMIT 1", params
        )
        return None if raw is None else MODEL_BY_COLLECTION[collection].model_validate(raw)

    async def get_product_by_id(self, product_id: str) -> Product | None:
        if not isinstance(product_id, str) or not product_id.strip():
            return None
        doc = await self._get("products", "id = ?", (product_id.strip(),))
        return doc if isinstance(doc, Product) else None

    async def get_product_by_sku(self, sku: str) -> Product | None:
        """Exact sku, ignoring case and surrounding whitespace."""
        if not isinstance(sku, str) or not _key(sku):
            return None
        doc = await self._get("products", "sku_key = ? ORDER BY rowid", (_key(sku),))
        return doc if isinstance(doc, Product) else None

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        """Match on `id` first, then on `customerId`."""
        if not isinstance(customer_id, str) or not customer_id.strip():
            return None
        value = customer_id.strip()
        doc = await self._get(
            "customers",
            "id = ? OR customer_id = ? ORDER BY (id = ?) DESC, rowid",
            (value, value, value),
        )
        return doc if isinstance(doc, Customer) else None

    async def get_sales_order_by_id(self, order_id: str) -> SalesOrder | None:
        if not isinstance(order_id, str) or not order_id.strip():
            return None
        doc = await self._get("sales", "id = ?", (order_id.strip(),))
        return doc if isinstance(doc, SalesOrder) else None

    async def count(self, collection: Collection) -> int:
        check_collection(collection)
        return await self._read(
            lambda conn: int(conn.execute(f"SELECT count(*) FROM {collection}").fetchone()[0])
        )

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT count(*) FROM meta").fetchone())

    # ----------------------------------------------------------------------------- search

    def _snapshot(self, conn: sqlite3.Connection, collection: Collection) -> _Snapshot:
        version = self._version(conn, collection)
        cached = self._snapshots.get(collection)
        if cached is not None and cached.version == version:
            return cached
        with self._snapshot_locks[collection]:
            cached = self._snapshots.get(collection)
            if cached is not None and cached.version == self._version(conn, collection):
                return cached
            snapshot = self._build_snapshot(conn, collection)
            self._snapshots[collection] = snapshot
            return snapshot

    def _build_snapshot(self, conn: sqlite3.Connection, collection: Collection) -> _Snapshot:
        spec = _SPECS[collection]
        key_columns = list(spec.filters.values())
        with self._transaction(conn, "DEFERRED"):  # one consistent read (WAL snapshot)
            version = self._version(conn, collection)
            stored = self._meta(conn, "embedding_identity")
            rows = conn.execute(
                f"SELECT rowid, vector, {', '.join(key_columns)} FROM {collection} ORDER BY rowid"
            ).fetchall()
        if rows and stored is not None and stored != self._identity:
            raise StoreError(
                f"catalog store {self._path}: the catalog was re-embedded with {stored!r} "
                f"by another process; restart with COSMIC_WORKS_EMBEDDINGS matching it"
            )
        rowids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if rows:
            blob = b"".join(row[1] for row in rows)
            flat = np.frombuffer(blob, dtype=np.float32)
            if flat.size % len(rows):
                raise StoreError(f"catalog store {self._path}: vectors of mixed dimensions")
            matrix = unit_rows(flat.reshape(len(rows), -1))
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        keys = {
            name: np.array([row[2 + i] for row in rows], dtype=object)
            for i, name in enumerate(spec.filters)
        }
        return _Snapshot(version=version, rowids=rowids, matrix=matrix, keys=keys)

    def _scores(
        self, snapshot: _Snapshot, query: FloatMatrix, flt: dict[str, str]
    ) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Cosine similarity of every row; rows failing the filter get -inf."""
        matrix = snapshot.matrix
        if matrix.shape[1] != query.shape[1]:
            raise StoreError(
                f"catalog store {self._path}: stored vectors have {matrix.shape[1]} "
                f"dimensions, the query has {query.shape[1]}; re-run `cosmic-works load --replace`"
            )
        # Chunked einsum, not `matrix @ q`: OpenBLAS spreads gemv over threads and slows down
        # several-fold when the cores are busy, while this single-threaded loop runs at memory
        # bandwidth (the bound for an exact scan) whatever the load.
        scores = np.empty(len(matrix), dtype=np.float32)
        vector = query[0]
        for start in range(0, len(matrix), SCORE_CHUNK_ROWS):
            stop = start + SCORE_CHUNK_ROWS
            np.einsum("ij,j->i", matrix[start:stop], vector, out=scores[start:stop])
        mask = snapshot.mask(flt)
        if mask is not None:
            scores[~mask] = -np.inf
        return scores

    def _docs_by_rowid(
        self, conn: sqlite3.Connection, collection: Collection, rowids: list[int]
    ) -> dict[int, Any]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = conn.execute(
            f"SELECT rowid, doc FROM {collection} WHERE rowid IN ({marks})", rowids
        ).fetchall()
        return {row[0]: orjson.loads(row[1]) for row in rows}

    def _hits(
        self,
        conn: sqlite3.Connection,
        collection: Collection,
        ranked: list[tuple[int, float]],
    ) -> list[SearchHit]:
        docs = self._docs_by_rowid(conn, collection, [rowid for rowid, _ in ranked])
        model = MODEL_BY_COLLECTION[collection]
        return [
            SearchHit(document=model.model_validate(docs[rowid]), score=float(score))
            for rowid, score in ranked
            if rowid in docs  # deleted between snapshot and fetch: skip
        ]

    @staticmethod
    def _top(scores: np.ndarray[Any, Any], k: int) -> list[int]:
        """Positions of the k best rows, best first, filtered-out rows (-inf) excluded."""
        if len(scores) > k:
            part = np.argpartition(-scores, k - 1)[:k]
        else:
            part = np.arange(len(scores))
        order = part[np.argsort(-scores[part], kind="stable")]
        return [int(p) for p in order if scores[p] != -np.inf]

    def _vector_sync(
        self,
        conn: sqlite3.Connection,
        collection: Collection,
        query: FloatMatrix,
        k: int,
        flt: dict[str, str],
    ) -> list[SearchHit]:
        snapshot = self._snapshot(conn, collection)
        if len(snapshot.rowids) == 0:
            return []
        scores = self._scores(snapshot, query, flt)
        best = self._top(scores, k)
        return self._hits(
            conn, collection, [(int(snapshot.rowids[i]), float(scores[i])) for i in best]
        )

    async def _query_vector(self, query: str) -> FloatMatrix:
        if self._stale:
            raise StoreError(self._stale)
        vector = await self._embeddings.aembed_query(query if isinstance(query, str) else "")
        return unit_rows(vector)

    async def vector_search(
        self,
        collection: Collection,
        query: str,
        k: int = 3,
        filter: SearchFilter | None = None,
    ) -> list[SearchHit]:
        """Nearest documents by cosine similarity (score in -1..1), best first; k in 1..50."""
        check_collection(collection)
        flt = validate_filter(collection, filter)
        vector = await self._query_vector(query)
        return await self._read(self._vector_sync, collection, vector, _clamp(k), flt)

    def _keyword_fts(self, conn: sqlite3.Connection, query: str, limit: int) -> list[int]:
        terms = [t.strip(".-/") for t in _QUERY_TERM.findall(query.lower())]
        terms = [t for t in terms if t and t not in _STOPWORDS]
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in dict.fromkeys(terms))
        weights = ", ".join(str(w) for w in _FTS_WEIGHTS)
        rows = conn.execute(
            f"SELECT rowid FROM {_FTS_TABLE} WHERE {_FTS_TABLE} MATCH ? "
            f"ORDER BY bm25({_FTS_TABLE}, {weights}) LIMIT ?",
            (match, limit),
        ).fetchall()
        return [row[0] for row in rows]

    def _keyword_tokens(
        self, conn: sqlite3.Connection, snapshot: _Snapshot, query: str, limit: int
    ) -> list[int]:
        """Fallback without FTS5: idf-weighted token overlap over the embedded texts."""
        if snapshot._inverted is None:
            texts = dict(conn.execute("SELECT rowid, text FROM products").fetchall())
            inverted: dict[str, list[int]] = {}
            for position, rowid in enumerate(snapshot.rowids):
                for token in set(_TOKEN.findall(str(texts.get(int(rowid), "")).lower())):
                    inverted.setdefault(token, []).append(position)
            snapshot._inverted = inverted
        tokens = {t for t in _TOKEN.findall(query.lower()) if t not in _STOPWORDS}
        total = max(len(snapshot.rowids), 1)
        scores: dict[int, float] = {}
        for token in tokens:
            postings = snapshot._inverted.get(token, [])
            idf = math.log(1 + total / (1 + len(postings)))
            for position in postings:
                scores[position] = scores.get(position, 0.0) + idf
        ranked = sorted(scores, key=lambda p: (-scores[p], p))[:limit]
        return [int(snapshot.rowids[p]) for p in ranked]

    def _hybrid_sync(
        self, conn: sqlite3.Connection, text: str, query: FloatMatrix, k: int, flt: dict[str, str]
    ) -> list[SearchHit]:
        snapshot = self._snapshot(conn, "products")
        if len(snapshot.rowids) == 0:
            return []
        scores = self._scores(snapshot, query, flt)
        vector_best = self._top(scores, max(FUSION_DEPTH, k))
        if self._fts:
            keyword_rowids = self._keyword_fts(conn, text, 4 * FUSION_DEPTH)
        else:
            keyword_rowids = self._keyword_tokens(conn, snapshot, text, 4 * FUSION_DEPTH)
        positions = snapshot.positions()
        keyword = [p for p in (positions.get(r) for r in keyword_rowids) if p is not None]
        keyword = [p for p in keyword if scores[p] != -np.inf][:FUSION_DEPTH]
        fused: dict[int, float] = {}
        for rank, position in enumerate(keyword, start=1):
            fused[position] = 1.0 / (RRF_K + rank)
        # Search is exact, so every candidate has a true vector rank: use it for keyword hits
        # too, so a strong keyword match is never outranked by a doc found by one list only.
        vector_rank = {p: rank for rank, p in enumerate(vector_best, start=1)}
        for position in keyword:
            if position not in vector_rank:
                vector_rank[position] = 1 + int(np.count_nonzero(scores > scores[position]))
        for position, rank in vector_rank.items():
            fused[position] = fused.get(position, 0.0) + 1.0 / (RRF_K + rank)
        ranked = sorted(fused, key=lambda p: (-fused[p], -scores[p]))[:k]
        return self._hits(
            conn, "products", [(int(snapshot.rowids[p]), float(scores[p])) for p in ranked]
        )

    async def hybrid_search_products(
        self, query: str, k: int = 3, filter: SearchFilter | None = None
    ) -> list[SearchHit]:
        """Keyword (FTS5/bm25) + vector search, ordered by reciprocal rank fusion.

        Each hit's `score` is its cosine similarity (comparable with `vector_search`), not the
        fused rank score.
        """
        flt = validate_filter("products", filter)
        vector = await self._query_vector(query)
        text = query if isinstance(query, str) else ""
        return await self._read(self._hybrid_sync, text, vector, _clamp(k), flt)

    # ----------------------------------------------------------------------------- writes

    def _customer_names(self, conn: sqlite3.Connection, customer_ids: list[str]) -> dict[str, str]:
        if not customer_ids:
            return {}
        marks = ",".join("?" * len(customer_ids))
        rows = conn.execute(
            f"SELECT customer_id, id, doc FROM customers WHERE customer_id IN ({marks}) "
            f"OR id IN ({marks})",
            customer_ids + customer_ids,
        ).fetchall()
        names: dict[str, str] = {}
        for customer_id, doc_id, doc in rows:
            raw = orjson.loads(doc)
            name = " ".join(p for p in (raw.get("firstName"), raw.get("lastName")) if p)
            if name:
                names.setdefault(customer_id, name)
                names.setdefault(doc_id, name)
        return names

    async def _names_of_customers(self, customer_ids: list[str]) -> dict[str, str]:
        return await self._read(self._customer_names, customer_ids)

    async def _write_batch(
        self,
        collection: Collection,
        batch: Sequence[_Document],
        texts: Sequence[str],
        vectors: FloatMatrix,
    ) -> int:
        return await self._write(self._write_sync, collection, batch, texts, vectors)

    def _write_sync(
        self,
        conn: sqlite3.Connection,
        collection: Collection,
        batch: Sequence[_Document],
        texts: Sequence[str],
        vectors: FloatMatrix,
    ) -> int:
        spec = _SPECS[collection]
        columns = ("id", *spec.columns, "text", "doc", "vector")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        sql = (
            f"INSERT INTO {collection} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates} RETURNING rowid"
        )
        with self._transaction(conn):
            stored_dims = self._meta(conn, "dimensions")
            if stored_dims is not None and int(stored_dims) != vectors.shape[1]:
                raise StoreError(
                    f"catalog store {self._path}: embeddings returned {vectors.shape[1]} "
                    f"dimensions, the store holds {stored_dims}"
                )
            if stored_dims is None:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('dimensions', ?)", (vectors.shape[1],)
                )
            for doc, text, vector in zip(batch, texts, vectors, strict=True):
                params = (
                    doc.id,
                    *spec.values(doc),
                    text,
                    orjson.dumps(doc.public_dict()).decode(),
                    vector.astype(np.float32).tobytes(),
                )
                rowid = conn.execute(sql, params).fetchone()[0]
                if self._fts and isinstance(doc, Product):
                    conn.execute(f"DELETE FROM {_FTS_TABLE} WHERE rowid = ?", (rowid,))
                    conn.execute(
                        f"INSERT INTO {_FTS_TABLE} (rowid, name, sku, category, description, "
                        "tags) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            rowid,
                            doc.name,
                            doc.sku,
                            doc.categoryName,
                            doc.description,
                            " ".join(tag.name for tag in doc.tags),
                        ),
                    )
            self._bump(conn, collection)
        return len(batch)

    def _drop_sync(self, conn: sqlite3.Connection, collections: tuple[Collection, ...]) -> None:
        with self._transaction(conn):
            for collection in collections:
                conn.execute(f"DELETE FROM {collection}")
                if collection == "products" and self._fts:
                    conn.execute(f"DELETE FROM {_FTS_TABLE}")
                self._bump(conn, collection)
            if not self._has_vectors(conn):
                # Nothing left from any model: adopt the configured one.
                conn.execute("DELETE FROM meta WHERE key = 'dimensions'")
                self._stamp(conn)

    async def drop(self, collection: Collection | None = None) -> None:
        """Remove one collection's documents, or all; an emptied store adopts our model."""
        if collection is not None:
            check_collection(collection)
        await self._write(self._drop_sync, COLLECTIONS if collection is None else (collection,))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._reader.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        with self._conn_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._snapshots.clear()

    async def __aenter__(self) -> SqliteCatalogStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _clamp(k: int) -> int:
    try:
        return max(1, min(MAX_K, int(k)))
    except (TypeError, ValueError):
        return 3


def _prepare_dir(path: Path) -> Path:
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def open_sqlite_store(
    path: str | Path, embeddings: Embeddings, *, allow_identity_change: bool = False
) -> SqliteCatalogStore:
    """Open (creating dirs and schema) the store at `path`.

    Raises `StoreError` when its vectors came from another embedding model, unless
    `allow_identity_change` (used by `load --replace`): then searches and upserts refuse until
    the collections are dropped, which re-stamps the store with the configured model.
    """
    target = Path(path)
    try:
        target = await asyncio.to_thread(_prepare_dir, target)
    except OSError as exc:
        raise StoreError(f"catalog store {target}: cannot create its directory: {exc}") from exc
    store = await asyncio.to_thread(SqliteCatalogStore, target, embeddings)  # probes sqlite
    try:
        await store._write(partial(store._open_sync, allow_identity_change=allow_identity_change))
    except BaseException:
        await store.aclose()
        raise
    return store
