"""The catalog on MongoDB: Atlas, Azure Cosmos DB for MongoDB vCore, or any MongoDB server.

Why: production deployments run several stateless replicas; the catalog lives in MongoDB so any
replica answers any request. The request path is async end to end (pymongo's
`AsyncMongoClient`), and the client's server-selection timeout is short (2 s by default) so a
database that is down turns into a 503 quickly; the client is never rebuilt, and pymongo
reconnects by itself once the server is back.

Layout (database `MONGODB_DATABASE`): `products`, `customers` and `sales`, one document per
catalog document (`_id` = its id), stored after model validation (so never a password hash or
salt), plus internal fields that are never returned: the unit vector (`embedding`), the embedded
text, and lower-cased copies for case-insensitive sku lookups and filters. `catalog_meta` holds
the embedding model's identity and dimensions (a store refuses vectors of another model, as the
SQLite store does) and a write counter per collection for the `exact` mode's cache.

Errors: every pymongo error becomes a `StoreError` naming MongoDB and the server's host:port,
never the password (`core.mongodb.describe_error`; `redact_uri` for the URI shown).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from pymongo import AsyncMongoClient, IndexModel, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from catalog.models import (
    COLLECTIONS,
    MODEL_BY_COLLECTION,
    Collection,
    Customer,
    Product,
    SalesOrder,
    _Document,
)
from catalog.mongo_exact import ExactSearch
from catalog.mongo_vector_search import (
    FILTER_KEYS,
    PUBLIC_PROJECTION,
    SKU_KEY,
    TEXT_FIELD,
    VECTOR_FIELD,
    AtlasSearch,
    CosmosIndexOptions,
    CosmosSearch,
    RawHit,
    SearchStrategy,
    clamp_k,
    clean,
    key,
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
from core.mongodb import client_kwargs, describe_error, redact_uri

if TYPE_CHECKING:
    from core.settings import Settings

SCHEMA_VERSION = 1
META_COLLECTION = "catalog_meta"
META_ID = "catalog"
SOCKET_TIMEOUT_S = 30.0  # a hung server (not a refused one) fails a request after this
APP_NAME = "cosmic-works-agent"

_INDEXES: dict[Collection, list[IndexModel]] = {
    "products": [
        IndexModel([(SKU_KEY, 1)], name=SKU_KEY, unique=True),
        IndexModel([("categoryName_lower", 1)], name="categoryName_lower"),
        IndexModel([("categoryId_lower", 1)], name="categoryId_lower"),
    ],
    "customers": [
        IndexModel([("customerId", 1)], name="customerId"),
        IndexModel([("customerId_lower", 1)], name="customerId_lower"),
    ],
    "sales": [
        IndexModel([("customerId", 1)], name="customerId"),
        IndexModel([("customerId_lower", 1)], name="customerId_lower"),
    ],
}


# ------------------------------------------------------------------------------------ store


def _version_id(collection: Collection) -> str:
    return f"version:{collection}"


class MongoCatalogStore(BatchUpserts):
    """`CatalogStore` over one MongoDB database. Build it with `open_mongo_store`."""

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        database: str,
        uri: str,
        embeddings: Embeddings,
        identity: str,
        strategy: SearchStrategy | None = None,
    ) -> None:
        self._client = client
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._meta = self._db[META_COLLECTION]
        self._uri = uri
        self._embeddings = embeddings
        self._identity = identity
        self._search: SearchStrategy = strategy or ExactSearch(self._version, self._check_identity)
        self._indexed: dict[Collection, int] = {}  # vector index ensured for these dimensions
        self._stale: str | None = None  # why vectors cannot be searched (other model)
        self._closed = False
        self.opened: list[tuple[str, str, str]] = []  # what opening created (for migrate)

    # ----------------------------------------------------------------------------- plumbing

    @property
    def embedding_identity(self) -> str:
        return self._identity

    @property
    def vector_search_mode(self) -> str:
        return self._search.name

    @property
    def where(self) -> str:
        """The redacted URI and database, for logs and the CLI."""
        return f"{redact_uri(self._uri)} database {self._db.name}"

    def _coll(self, collection: Collection) -> AsyncCollection[dict[str, Any]]:
        return self._db[collection]

    def _error(self, exc: BaseException) -> StoreError:
        return StoreError(f"catalog store: {describe_error(exc, self._uri)}")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        if self._closed:
            raise StoreError("catalog store: the MongoDB store is closed")
        try:
            yield
        except PyMongoError as exc:
            # `from None`: the original message may hold what we just redacted.
            raise self._error(exc) from None

    # ----------------------------------------------------------------------------- schema

    async def _open(self, allow_identity_change: bool) -> list[tuple[str, str, str]]:
        """Check the server, create every index, check or stamp the embedding identity.

        Returns `(collection, what, status)` rows for `cosmic-works migrate`.
        """
        rows: list[tuple[str, str, str]] = []
        with self._guard():
            await self._client.admin.command("ping")
            for collection, indexes in _INDEXES.items():
                rows += await self._create_indexes(collection, indexes)
            meta = await self._meta.find_one({"_id": META_ID}) or {}
            stored = meta.get("embedding_identity")
            if stored is not None and stored != self._identity and await self._has_vectors():
                message = (
                    f"catalog store {self.where}: its vectors were computed by {stored!r} but "
                    f"the configured embeddings are {self._identity!r}; re-run "
                    "`cosmic-works load --replace` to re-embed the catalog, or set "
                    "COSMIC_WORKS_EMBEDDINGS back to the model it was built with"
                )
                if not allow_identity_change:
                    raise StoreError(message)
                self._stale = message
                return rows
            await self._stamp(empty=not await self._has_vectors())
            dimensions = await self._dimensions()
            if dimensions is not None:
                for collection in COLLECTIONS:
                    made = await self._ensure_vector_index(collection, dimensions)
                    rows += [(collection, what, status) for what, status in made]
        return rows

    async def _create_indexes(
        self, collection: Collection, indexes: list[IndexModel]
    ) -> list[tuple[str, str, str]]:
        coll = self._coll(collection)
        before = {ix["name"] for ix in await (await coll.list_indexes()).to_list(None)}
        try:
            await coll.create_indexes(indexes)
        except OperationFailure as exc:
            raise StoreError(
                f"catalog store: {describe_error(exc, self._uri)} (creating the indexes of "
                f"{collection}; Azure Cosmos DB creates unique indexes only on empty collections: "
                "run `cosmic-works migrate` on a new database, or drop the collection first)"
            ) from None
        rows: list[tuple[str, str, str]] = []
        for index in indexes:
            name = index.document["name"]
            unique = " (unique)" if index.document.get("unique") else ""
            status = "exists" if name in before else "created"
            rows.append((collection, f"index {name}{unique}", status))
        return rows

    async def _has_vectors(self) -> bool:
        for collection in COLLECTIONS:
            if await self._coll(collection).find_one({}, {"_id": 1}) is not None:
                return True
        return False

    async def _stamp(self, empty: bool) -> None:
        """Record our model, and its dimensions when the embeddings declare them; an empty
        store forgets the dimensions of vectors it no longer holds."""
        update: dict[str, Any] = {
            "$set": {"embedding_identity": self._identity, "schema_version": SCHEMA_VERSION}
        }
        dims = getattr(self._embeddings, "dimensions", None)
        if isinstance(dims, int) and not isinstance(dims, bool):
            update["$set"]["dimensions"] = dims
        elif empty:
            update["$unset"] = {"dimensions": ""}
        await self._meta.update_one({"_id": META_ID}, update, upsert=True)
        self._stale = None

    async def _dimensions(self) -> int | None:
        meta = await self._meta.find_one({"_id": META_ID}, {"dimensions": 1})
        value = (meta or {}).get("dimensions")
        return int(value) if isinstance(value, int) else None

    async def _ensure_vector_index(
        self, collection: Collection, dimensions: int
    ) -> list[tuple[str, str]]:
        """This mode's vector (and text) indexes, once per collection and dimensions."""
        if self._indexed.get(collection) == dimensions:
            return []
        rows = await self._search.ensure_indexes(self._db, collection, dimensions)
        self._indexed[collection] = dimensions
        return rows

    async def recorded_dimensions(self) -> int | None:
        """The vectors' dimensions recorded in `catalog_meta` (None before the first write)."""
        with self._guard():
            return await self._dimensions()

    async def ensure_vector_indexes(
        self, collection: Collection, dimensions: int
    ) -> list[tuple[str, str]]:
        """Create this mode's vector indexes for `dimensions` (migrate, before any data)."""
        check_collection(collection)
        with self._guard():
            return await self._ensure_vector_index(collection, dimensions)

    async def _version(self, collection: Collection) -> int:
        doc = await self._meta.find_one({"_id": _version_id(collection)})
        return int((doc or {}).get("value", 0))

    async def _bump(self, collection: Collection) -> None:
        await self._meta.update_one(
            {"_id": _version_id(collection)}, {"$inc": {"value": 1}}, upsert=True
        )

    async def _check_identity(self) -> None:
        meta = await self._meta.find_one({"_id": META_ID}, {"embedding_identity": 1}) or {}
        stored = meta.get("embedding_identity")
        if stored is not None and stored != self._identity:
            raise StoreError(
                f"catalog store {self.where}: the catalog was re-embedded with {stored!r} by "
                "another process; restart with COSMIC_WORKS_EMBEDDINGS matching it"
            )

    # ----------------------------------------------------------------------------- lookups

    async def _get(self, collection: Collection, query: dict[str, Any]) -> Any:
        with self._guard():
            raw = await self._coll(collection).find_one(query, PUBLIC_PROJECTION, sort=[("_id", 1)])
        return None if raw is None else MODEL_BY_COLLECTION[collection].model_validate(clean(raw))

    async def get_product_by_id(self, product_id: str) -> Product | None:
        if not isinstance(product_id, str) or not product_id.strip():
            return None
        doc = await self._get("products", {"_id": product_id.strip()})
        return doc if isinstance(doc, Product) else None

    async def get_product_by_sku(self, sku: str) -> Product | None:
        """Exact sku, ignoring case and surrounding whitespace."""
        if not key(sku):
            return None
        doc = await self._get("products", {SKU_KEY: key(sku)})
        return doc if isinstance(doc, Product) else None

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        """Match on `id` first, then on `customerId`."""
        if not isinstance(customer_id, str) or not customer_id.strip():
            return None
        value = customer_id.strip()
        doc = await self._get("customers", {"_id": value})
        if doc is None:
            doc = await self._get("customers", {"customerId": value})
        return doc if isinstance(doc, Customer) else None

    async def get_sales_order_by_id(self, order_id: str) -> SalesOrder | None:
        if not isinstance(order_id, str) or not order_id.strip():
            return None
        doc = await self._get("sales", {"_id": order_id.strip()})
        return doc if isinstance(doc, SalesOrder) else None

    async def count(self, collection: Collection) -> int:
        check_collection(collection)
        with self._guard():
            return int(await self._coll(collection).count_documents({}))

    async def ping(self) -> None:
        with self._guard():
            await self._client.admin.command("ping")

    # ----------------------------------------------------------------------------- search

    async def _query_vector(self, query: str) -> FloatMatrix:
        if self._stale:
            raise StoreError(self._stale)
        vector = await self._embeddings.aembed_query(query if isinstance(query, str) else "")
        return unit_rows(vector)

    def _hits(self, collection: Collection, raw: list[RawHit]) -> list[SearchHit]:
        model = MODEL_BY_COLLECTION[collection]
        return [SearchHit(document=model.model_validate(doc), score=score) for doc, score in raw]

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
        with self._guard():
            raw = await self._search.vector(
                self._coll(collection), collection, vector, clamp_k(k), flt
            )
        return self._hits(collection, raw)

    async def hybrid_search_products(
        self, query: str, k: int = 3, filter: SearchFilter | None = None
    ) -> list[SearchHit]:
        """Keyword + vector search fused by reciprocal rank; `score` is the cosine similarity."""
        flt = validate_filter("products", filter)
        vector = await self._query_vector(query)
        text = query if isinstance(query, str) else ""
        with self._guard():
            raw = await self._search.hybrid(self._coll("products"), text, vector, clamp_k(k), flt)
        return self._hits("products", raw)

    # ----------------------------------------------------------------------------- writes

    async def _names_of_customers(self, customer_ids: list[str]) -> dict[str, str]:
        if not customer_ids:
            return {}
        query = {"$or": [{"customerId": {"$in": customer_ids}}, {"_id": {"$in": customer_ids}}]}
        projection = {"firstName": 1, "lastName": 1, "customerId": 1}
        with self._guard():
            rows = await self._coll("customers").find(query, projection).to_list(None)
        names: dict[str, str] = {}
        for row in rows:
            name = " ".join(p for p in (row.get("firstName"), row.get("lastName")) if p)
            if name:
                names.setdefault(str(row.get("customerId") or row["_id"]), name)
                names.setdefault(str(row["_id"]), name)
        return names

    @staticmethod
    def _stored(
        collection: Collection, doc: _Document, text: str, vector: FloatMatrix
    ) -> dict[str, Any]:
        body: dict[str, Any] = {**doc.public_dict(), "_id": doc.id}
        body[VECTOR_FIELD] = vector.astype(float).tolist()
        body[TEXT_FIELD] = text
        if isinstance(doc, Product):
            body[SKU_KEY] = key(doc.sku)
            body["categoryName_lower"] = key(doc.categoryName)
            body["categoryId_lower"] = key(doc.categoryId)
        elif isinstance(doc, Customer | SalesOrder):
            body["customerId_lower"] = key(doc.customerId or doc.id)
        assert set(FILTER_KEYS[collection].values()) <= set(body)
        return body

    async def _write_batch(
        self,
        collection: Collection,
        batch: Sequence[_Document],
        texts: Sequence[str],
        vectors: FloatMatrix,
    ) -> int:
        with self._guard():
            stored = await self._dimensions()
            if stored is not None and stored != vectors.shape[1]:
                raise StoreError(
                    f"catalog store {self.where}: embeddings returned {vectors.shape[1]} "
                    f"dimensions, the store holds {stored}"
                )
            if stored is None:
                await self._meta.update_one(
                    {"_id": META_ID}, {"$set": {"dimensions": int(vectors.shape[1])}}, upsert=True
                )
            await self._ensure_vector_index(collection, int(vectors.shape[1]))
            operations = [
                ReplaceOne(
                    {"_id": doc.id}, self._stored(collection, doc, text, vector), upsert=True
                )
                for doc, text, vector in zip(batch, texts, vectors, strict=True)
            ]
            try:
                await self._coll(collection).bulk_write(operations, ordered=False)
            except BulkWriteError as exc:
                raise self._bulk_error(collection, batch, exc) from None
            finally:
                await self._bump(collection)  # some documents may have been written anyway
        self._search.forget(collection)
        return len(batch)

    def _bulk_error(
        self, collection: Collection, batch: Sequence[_Document], exc: BulkWriteError
    ) -> StoreError:
        errors = exc.details.get("writeErrors", [])
        first = errors[0] if errors else {}
        if first.get("code") == 11000 and SKU_KEY in str(first.get("keyPattern", "")):
            doc = batch[first.get("index", 0)]
            return StoreError(
                f"catalog store {self.where}: product {doc.id!r} has sku "
                f"{getattr(doc, 'sku', '?')!r}, which another product already has; skus must "
                f"be unique ({len(errors)} write error(s) in this batch of {collection})"
            )
        return StoreError(
            f"catalog store: {describe_error(exc, self._uri)} ({len(errors)} write error(s) in "
            f"a batch of {collection})"
        )

    async def drop(self, collection: Collection | None = None) -> None:
        """Remove one collection's documents, or all; an emptied store adopts our model.

        Documents are deleted, not the collections, so regular and search indexes survive.
        """
        if collection is not None:
            check_collection(collection)
        targets = COLLECTIONS if collection is None else (collection,)
        with self._guard():
            for name in targets:
                await self._coll(name).delete_many({})
                await self._bump(name)
                self._search.forget(name)
            if not await self._has_vectors():
                await self._stamp(empty=True)
                dims = getattr(self._embeddings, "dimensions", None)
                if not isinstance(dims, int):
                    self._indexed.clear()  # unknown until the next write: re-ensure then

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._search.forget()
        await self._client.close()

    async def __aenter__(self) -> MongoCatalogStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _embedding_identity(embeddings: Embeddings) -> str:
    from catalog.embeddings import embedding_identity

    return embedding_identity(embeddings)


def build_strategy(settings: Settings) -> SearchStrategy | None:
    """The search strategy `COSMIC_WORKS_VECTOR_SEARCH` names (None: the store's exact one)."""
    mode = settings.vector_search
    if mode == "exact":
        return None
    if mode == "atlas":
        return AtlasSearch(settings.vector_index_name, settings.text_index_name)
    if mode == "cosmos":
        options = CosmosIndexOptions(
            kind=settings.cosmos_index_kind,
            num_lists=settings.cosmos_num_lists,
            m=settings.cosmos_m,
            ef_construction=settings.cosmos_ef_construction,
            max_degree=settings.cosmos_max_degree,
            l_build=settings.cosmos_l_build,
        )
        from catalog.mongo_vector_search import cosmos_vector_index

        cosmos_vector_index(settings.vector_index_name, 1, options)  # fail fast on bad options
        return CosmosSearch(settings.vector_index_name, settings.text_index_name, options)
    raise StoreError(
        f"unknown vector search mode {mode!r}: set COSMIC_WORKS_VECTOR_SEARCH to "
        "'exact', 'atlas' or 'cosmos'"
    )


def mongodb_uri(settings: Settings) -> str:
    """The configured connection string, or a `StoreError` saying which variable to set."""
    secret = settings.mongodb_uri
    uri = secret.get_secret_value().strip() if secret is not None else ""
    if not uri:
        raise StoreError(
            "COSMIC_WORKS_STORE=mongodb needs a MongoDB connection string: set MONGODB_URI "
            "(or DB_CONNECTION_STRING), e.g. mongodb://localhost:27017"
        )
    return uri


async def open_mongo_store(
    settings: Settings, embeddings: Embeddings, *, allow_identity_change: bool = False
) -> MongoCatalogStore:
    """Connect, create collections' indexes (and vector indexes when the dimensions are known),
    and check the embedding identity. Raises `StoreError` (within the server-selection timeout
    when the server is down) naming MongoDB and its host, never the password.

    `allow_identity_change` (used by `load --replace`) opens a store whose vectors came from
    another model: searches and upserts then refuse until everything is dropped.
    """
    uri = mongodb_uri(settings)
    strategy = build_strategy(settings)
    timeout_s = settings.mongodb_timeout_s
    options = client_kwargs(
        uri,
        timeout_s,
        connect_timeout_s=timeout_s,
        socket_timeout_s=max(SOCKET_TIMEOUT_S, timeout_s),
        app_name=APP_NAME,
    )
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, **options)
    except (PyMongoError, ValueError) as exc:  # pymongo raises ValueError for some bad URIs
        raise StoreError(f"catalog store: {describe_error(exc, uri)}") from None
    store = MongoCatalogStore(
        client,
        settings.mongodb_database,
        uri,
        embeddings,
        _embedding_identity(embeddings),
        strategy,
    )
    try:
        store.opened = await store._open(allow_identity_change)
    except BaseException:
        await store.aclose()
        raise
    return store


async def migrate_catalog(settings: Settings, embeddings: Embeddings) -> list[tuple[str, str, str]]:
    """`cosmic-works migrate`'s catalog part: `(collection, what, status)` rows.

    Opening the store creates the collections' indexes, and this mode's vector indexes when
    the dimensions are known (declared by the embeddings or recorded by an earlier load); else
    one probe embedding measures them, so Cosmos DB / Atlas indexes exist before any data.
    """
    store = await open_mongo_store(settings, embeddings)
    try:
        rows = list(store.opened)
        if store.vector_search_mode != "exact" and await store.recorded_dimensions() is None:
            try:
                dimensions = len(await embeddings.aembed_query("Cosmic Works"))
            except Exception:  # noqa: BLE001 - the model may be unreachable from here: defer
                dimensions = 0
            if not dimensions:
                rows.append(("products, customers, sales", "vector indexes", "at first load"))
            for collection in COLLECTIONS if dimensions else ():
                made = await store.ensure_vector_indexes(collection, dimensions)
                rows += [(collection, what, status) for what, status in made]
    finally:
        await store.aclose()
    return rows
