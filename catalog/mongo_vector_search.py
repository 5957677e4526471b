"""How the MongoDB store searches: the stored document shape, and the `atlas` and `cosmos` modes.

Why several modes: Atlas has `$vectorSearch` (and Atlas Search for keywords); Azure Cosmos DB
for MongoDB vCore has its own `$search`/`cosmosSearch` stage and `cosmosSearch` indexes;
community servers (and SecantusDB in our tests) have neither, hence `exact`
(`catalog.mongo_exact`), which scores every vector in the replica. Every index definition and
pipeline is built by a pure function here, so the shapes we cannot run on the test server are
still checked against the documented ones; the strategy classes only send them.

Scores are cosine similarity (-1..1) in every mode, as in the SQLite store: Atlas' normalised
`vectorSearchScore` is mapped back, hybrid hits are rescored from their vectors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_mongodb.pipelines import (
    combine_pipelines,
    final_hybrid_stage,
    reciprocal_rank_stage,
    vector_search_stage,
)
from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel

from catalog.models import Collection
from catalog.store import FloatMatrix, StoreError, unit_rows

# ------------------------------------------------------------------------ stored document shape

VECTOR_FIELD = "embedding"  # unit float vector, never returned
TEXT_FIELD = "embedding_text"  # the text that was embedded (for inspection, re-embedding)
# filter field (public name) -> stored lower-cased copy, per collection (case-insensitive filters)
FILTER_KEYS: dict[Collection, dict[str, str]] = {
    "products": {"categoryName": "categoryName_lower", "categoryId": "categoryId_lower"},
    "customers": {"customerId": "customerId_lower"},
    "sales": {"customerId": "customerId_lower"},
}
SKU_KEY = "sku_lower"
INTERNAL_FIELDS: tuple[str, ...] = (
    VECTOR_FIELD,
    TEXT_FIELD,
    SKU_KEY,
    "categoryName_lower",
    "categoryId_lower",
    "customerId_lower",
)
# What reads return: everything but our internal fields (`_id` is kept to map, then dropped).
PUBLIC_PROJECTION: dict[str, int] = dict.fromkeys(INTERNAL_FIELDS, 0)

MAX_K = 50
RRF_K = 60  # the usual reciprocal-rank-fusion constant (as the SQLite store)
FUSION_DEPTH = 50  # candidates taken from each ranking before fusion
ATLAS_OVERSAMPLING = 10  # numCandidates = limit x this (Atlas recommends 10-20)
COSMOS_MAX_DIMENSIONS = 2000  # documented limit of cosmosSearch vector indexes
SCORE_CHUNK_ROWS = 8192

RawHit = tuple[dict[str, Any], float]  # (stored document without internal fields, cosine)

STOPWORDS = frozenset(
    "a an and are as at be by for from has have i in is it me my of on or that the this to "
    "was what which who with you your do does did can any some".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")
_TERM = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # hyphenated (sku-like) terms kept whole


def clamp_k(k: Any) -> int:
    try:
        return max(1, min(MAX_K, int(k)))
    except (TypeError, ValueError):
        return 3


def key(value: Any) -> str:
    """The lower-cased form stored for case-insensitive lookups and filters."""
    return value.strip().lower() if isinstance(value, str) else ""


def keyword_terms(text: str) -> list[str]:
    """Distinct query terms, stopwords removed; a sku (`FR-R92B-58`) stays one term, so it
    matches that product and not every sibling sharing `FR` or `58` (FTS5 reads it as a
    phrase for the same reason)."""
    lowered = text.lower() if isinstance(text, str) else ""
    return [t for t in dict.fromkeys(_TERM.findall(lowered)) if t not in STOPWORDS]


def indexed_terms(text: str) -> set[str]:
    """Terms a document field is found by: its whole terms and each of their words."""
    lowered = text.lower()
    return set(_TERM.findall(lowered)) | set(_TOKEN.findall(lowered))


def split_terms(terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """(plain words, hyphenated terms) of `keyword_terms` output."""
    return [t for t in terms if "-" not in t], [t for t in terms if "-" in t]


def clean(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the models expect it: internal fields and `_id` removed."""
    doc = {k: v for k, v in raw.items() if k not in INTERNAL_FIELDS}
    stored_id = doc.pop("_id", None)
    if "id" not in doc and stored_id is not None:
        doc["id"] = str(stored_id)
    return doc


def match_filter(collection: Collection, flt: Mapping[str, str]) -> dict[str, Any]:
    """Plain equality on the lower-cased copies (find, `$match`, Cosmos `$text`)."""
    keys = FILTER_KEYS[collection]
    return {keys[name]: key(value) for name, value in flt.items()}


def operator_filter(collection: Collection, flt: Mapping[str, str]) -> dict[str, Any] | None:
    """The same filter in the `{"field": {"$eq": v}}` / `$and` form `$vectorSearch` and
    `cosmosSearch` pre-filters document; None when unfiltered."""
    clauses = [{f: {"$eq": v}} for f, v in match_filter(collection, flt).items()]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def rrf(rankings: Sequence[Sequence[Any]]) -> dict[Any, float]:
    """Reciprocal rank fusion: sum of 1/(RRF_K + rank) over the rankings (ranks from 1)."""
    fused: dict[Any, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (RRF_K + rank)
    return fused


def _reason(exc: OperationFailure) -> str:
    """The server's own message, without pymongo's `full error` dump."""
    details = exc.details or {}
    return " ".join(str(details.get("errmsg") or exc).split(", full error:")[0].split())


def _cosine(raw: Mapping[str, Any], query: FloatMatrix) -> float:
    vector = raw.get(VECTOR_FIELD)
    if not isinstance(vector, list) or len(vector) != query.shape[1]:
        return 0.0
    return float(unit_rows(vector)[0] @ query[0])


class SearchStrategy(Protocol):
    """What the store asks of a search mode; all calls may raise pymongo errors."""

    name: str

    async def ensure_indexes(
        self, db: AsyncDatabase[Any], collection: Collection, dimensions: int
    ) -> list[tuple[str, str]]:
        """Create or update this mode's indexes; returns `(what, status)` rows."""
        ...

    async def vector(
        self,
        coll: AsyncCollection[Any],
        collection: Collection,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]: ...

    async def hybrid(
        self,
        coll: AsyncCollection[Any],
        text: str,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]: ...

    def forget(self, collection: Collection | None = None) -> None: ...


# ------------------------------------------------------------------------------------ atlas


def atlas_vector_index_definition(collection: Collection, dimensions: int) -> dict[str, Any]:
    """An Atlas Vector Search index (type `vectorSearch`): the vector, cosine, and the
    lower-cased filter fields as `filter` fields (what `langchain-mongodb` builds)."""
    fields: list[dict[str, Any]] = [
        {
            "numDimensions": dimensions,
            "path": VECTOR_FIELD,
            "similarity": "cosine",
            "type": "vector",
        }
    ]
    fields += [{"type": "filter", "path": path} for path in FILTER_KEYS[collection].values()]
    return {"fields": fields}


# Product fields searched by keywords (the columns of the SQLite store's FTS5 table).
KEYWORD_PATHS = ["name", "sku", "categoryName", "description", "tags.name"]


def atlas_text_index_definition() -> dict[str, Any]:
    """An Atlas Search index (type `search`) over the products' keyword fields."""
    string = {"type": "string"}
    fields: dict[str, Any] = {name: string for name in KEYWORD_PATHS if "." not in name}
    fields["tags"] = {"type": "document", "fields": {"name": string}}
    return {"mappings": {"dynamic": False, "fields": fields}}


def atlas_text_pipeline(
    text: str, flt: Mapping[str, str], index_name: str, limit: int
) -> list[dict[str, Any]] | None:
    """Atlas Search `$search` for the keyword half: `text` for words, `phrase` for each sku-like
    term (whole, as FTS5 reads it), post-filtered like langchain-mongodb's text stage; None
    without terms."""
    words, whole = split_terms(keyword_terms(text))
    should: list[dict[str, Any]] = []
    if words:
        should.append({"text": {"query": " ".join(words), "path": KEYWORD_PATHS}})
    should += [{"phrase": {"query": term, "path": KEYWORD_PATHS}} for term in whole]
    if not should:
        return None
    search = {"index": index_name, "compound": {"should": should, "minimumShouldMatch": 1}}
    pipeline: list[dict[str, Any]] = [{"$search": search}]
    if flt:
        pipeline.append({"$match": match_filter("products", flt)})
    pipeline.append({"$limit": limit})
    return pipeline


def _hidden(*extra: str, keep_vector: bool = False) -> dict[str, Any]:
    fields = [f for f in INTERNAL_FIELDS if keep_vector is False or f != VECTOR_FIELD]
    return {"$project": dict.fromkeys([*fields, *extra], 0)}


def atlas_vector_pipeline(
    collection: Collection,
    query: Sequence[float],
    k: int,
    flt: Mapping[str, str],
    index_name: str,
) -> list[dict[str, Any]]:
    """`$vectorSearch` (pre-filtered), its score, and the vector projected out."""
    return [
        vector_search_stage(
            list(query),
            VECTOR_FIELD,
            index_name,
            top_k=k,
            filter=operator_filter(collection, flt),
            oversampling_factor=ATLAS_OVERSAMPLING,
        ),
        {"$set": {"_score": {"$meta": "vectorSearchScore"}}},
        _hidden(),
    ]


def atlas_hybrid_pipeline(
    text: str,
    query: Sequence[float],
    k: int,
    flt: Mapping[str, str],
    index_name: str,
    text_index_name: str,
) -> list[dict[str, Any]]:
    """Hybrid search as langchain-mongodb's `MongoDBAtlasHybridSearchRetriever` builds it, with
    its stage helpers: `$vectorSearch` and Atlas Search `$search` each ranked
    (`reciprocal_rank_stage`), unioned (`$unionWith`), summed and sorted (`final_hybrid_stage`).

    The vector is kept in the final k documents so their cosine can be reported.
    """
    vector = [
        vector_search_stage(
            list(query),
            VECTOR_FIELD,
            index_name,
            top_k=FUSION_DEPTH,
            filter=operator_filter("products", flt),
            oversampling_factor=ATLAS_OVERSAMPLING,
        ),
        *reciprocal_rank_stage("vector_score", penalty=RRF_K),
    ]
    pipeline: list[dict[str, Any]] = []
    combine_pipelines(pipeline, vector, "products")
    scores = ["vector_score"]
    keyword = atlas_text_pipeline(text, flt, text_index_name, FUSION_DEPTH)
    if keyword is not None:
        keyword += reciprocal_rank_stage("fulltext_score", penalty=RRF_K)
        combine_pipelines(pipeline, keyword, "products")
        scores.append("fulltext_score")
    pipeline += final_hybrid_stage(scores, limit=k)
    pipeline.append(_hidden("vector_score", "fulltext_score", "rank", "score", keep_vector=True))
    return pipeline


def atlas_score(score: float) -> float:
    """Atlas normalises cosine to (1 + cosine) / 2; report the cosine, as the other modes."""
    return 2.0 * float(score) - 1.0


class AtlasSearch:
    """`$vectorSearch` on MongoDB Atlas (or `mongodb-atlas-local`), hybrid with Atlas Search."""

    name = "atlas"

    def __init__(self, index_name: str, text_index_name: str) -> None:
        self.index_name = index_name
        self.text_index_name = text_index_name

    def forget(self, collection: Collection | None = None) -> None:
        return None

    async def ensure_indexes(
        self, db: AsyncDatabase[Any], collection: Collection, dimensions: int
    ) -> list[tuple[str, str]]:
        """Create the search indexes, or update one whose definition changed (dimensions).

        Atlas builds them in the background: searches return nothing until they are READY.
        """
        vector = atlas_vector_index_definition(collection, dimensions)
        wanted = {self.index_name: ("vectorSearch", vector)}
        if collection == "products":
            wanted[self.text_index_name] = ("search", atlas_text_index_definition())
        coll = db[collection]
        rows: list[tuple[str, str]] = []
        try:
            if collection not in await db.list_collection_names(filter={"name": collection}):
                await db.create_collection(collection)
            cursor = await coll.list_search_indexes()
            existing = {ix["name"]: ix for ix in await cursor.to_list(None)}
            for name, (kind, definition) in wanted.items():
                what = f"Atlas {kind} index {name}"
                current = existing.get(name)
                if current is None:
                    model = SearchIndexModel(definition=definition, name=name, type=kind)
                    await coll.create_search_index(model)
                    rows.append((what, "created"))
                elif current.get("latestDefinition") != definition:
                    await coll.update_search_index(name, definition)
                    rows.append((what, "updated"))
                else:
                    rows.append((what, "exists"))
        except OperationFailure as exc:
            raise StoreError(
                f"cannot create the Atlas Vector Search index {self.index_name!r} on "
                f"{collection} ({_reason(exc)}): this mode needs MongoDB Atlas or an "
                "Atlas-compatible deployment (mongodb-atlas-local); set "
                "COSMIC_WORKS_VECTOR_SEARCH=exact for a community server or =cosmos for Azure "
                "Cosmos DB for MongoDB vCore"
            ) from None
        return rows

    async def vector(
        self,
        coll: AsyncCollection[Any],
        collection: Collection,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]:
        pipeline = atlas_vector_pipeline(collection, query[0].tolist(), k, flt, self.index_name)
        rows = await (await coll.aggregate(pipeline)).to_list(None)
        scores = [atlas_score(row.pop("_score", 0.0)) for row in rows]
        return [(clean(row), score) for row, score in zip(rows, scores, strict=True)]

    async def hybrid(
        self,
        coll: AsyncCollection[Any],
        text: str,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]:
        pipeline = atlas_hybrid_pipeline(
            text, query[0].tolist(), k, flt, self.index_name, self.text_index_name
        )
        rows = await (await coll.aggregate(pipeline)).to_list(None)
        return [(clean(row), _cosine(row, query)) for row in rows]


# ----------------------------------------------------------------------------------- cosmos


@dataclass(frozen=True, slots=True)
class CosmosIndexOptions:
    """`cosmosSearchOptions` knobs (settings `COSMIC_WORKS_COSMOS_*`)."""

    kind: str = "vector-hnsw"
    num_lists: int = 1
    m: int = 16
    ef_construction: int = 64
    max_degree: int = 32
    l_build: int = 50


COSMOS_KINDS = ("vector-ivf", "vector-hnsw", "vector-diskann")


def cosmos_vector_index(
    index_name: str, dimensions: int, options: CosmosIndexOptions
) -> dict[str, Any]:
    """One entry of `createIndexes.indexes` for a Cosmos DB vCore vector index (COS)."""
    if options.kind not in COSMOS_KINDS:
        raise StoreError(
            f"unknown Cosmos DB vector index kind {options.kind!r}: set "
            f"COSMIC_WORKS_COSMOS_INDEX_KIND to one of {', '.join(COSMOS_KINDS)}"
        )
    if dimensions > COSMOS_MAX_DIMENSIONS:
        raise StoreError(
            f"Azure Cosmos DB vector indexes take at most {COSMOS_MAX_DIMENSIONS} dimensions, "
            f"the embeddings have {dimensions}: choose a smaller model (COSMIC_WORKS_EMBEDDINGS)"
        )
    search: dict[str, Any] = {"kind": options.kind}
    if options.kind == "vector-ivf":
        search["numLists"] = options.num_lists
    elif options.kind == "vector-hnsw":
        if options.ef_construction < 2 * options.m:
            raise StoreError(
                "vector-hnsw needs efConstruction >= 2 x m: raise "
                "COSMIC_WORKS_COSMOS_EF_CONSTRUCTION or lower COSMIC_WORKS_COSMOS_M"
            )
        search["m"] = options.m
        search["efConstruction"] = options.ef_construction
    else:
        search["maxDegree"] = options.max_degree
        search["lBuild"] = options.l_build
    search["similarity"] = "COS"
    search["dimensions"] = dimensions
    return {
        "name": index_name,
        "key": {VECTOR_FIELD: "cosmosSearch"},
        "cosmosSearchOptions": search,
    }


def cosmos_text_index(index_name: str) -> IndexModel:
    """A classic text index over the product fields, weighted like the SQLite FTS5 ranking."""
    weights = {"name": 10, "sku": 10, "categoryName": 3, "description": 1, "tags.name": 2}
    return IndexModel(
        [(f, "text") for f in KEYWORD_PATHS],
        name=index_name,
        weights=weights,
        default_language="none",
    )


def cosmos_vector_pipeline(
    collection: Collection,
    query: Sequence[float],
    k: int,
    flt: Mapping[str, str],
    kind: str,
) -> list[dict[str, Any]]:
    """`$search`/`cosmosSearch` (with a pre-filter when asked), the documented score projection
    (`similarityScore` from `searchScore`, the document under `document`), vector dropped."""
    search: dict[str, Any] = {"vector": list(query), "path": VECTOR_FIELD, "k": k}
    pre = operator_filter(collection, flt)
    if pre is not None:
        search["filter"] = pre
    if kind == "vector-hnsw":
        search["efSearch"] = max(40, k)  # candidate list; k may not exceed it
    elif kind == "vector-diskann":
        search["lSearch"] = max(40, k)
    return [
        {"$search": {"cosmosSearch": search, "returnStoredSource": True}},
        {"$project": {"similarityScore": {"$meta": "searchScore"}, "document": "$$ROOT"}},
        {"$project": {f"document.{f}": 0 for f in INTERNAL_FIELDS}},
    ]


def cosmos_keyword_query(
    text: str, flt: Mapping[str, str], limit: int
) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, Any]], int] | None:
    """`find` arguments for the keyword half on Cosmos DB: `$text` with the words, and each
    sku-like term as a quoted phrase (so its hyphens are never read as negations, and only
    documents holding it match), the filter, sorted by textScore; None without terms."""
    words, whole = split_terms(keyword_terms(text))
    if not words and not whole:
        return None
    search = " ".join([*words, *(f'"{term}"' for term in whole)])
    query = {"$text": {"$search": search}, **match_filter("products", flt)}
    projection: dict[str, Any] = {
        **{f: 0 for f in INTERNAL_FIELDS if f != VECTOR_FIELD},
        "_text_score": {"$meta": "textScore"},
    }
    return query, projection, [("_text_score", {"$meta": "textScore"})], limit


class CosmosSearch:
    """`cosmosSearch` on Azure Cosmos DB for MongoDB vCore (IVF, HNSW or DiskANN index)."""

    name = "cosmos"

    def __init__(self, index_name: str, text_index_name: str, options: CosmosIndexOptions) -> None:
        self.index_name = index_name
        self.text_index_name = text_index_name
        self.options = options

    def forget(self, collection: Collection | None = None) -> None:
        return None

    async def ensure_indexes(
        self, db: AsyncDatabase[Any], collection: Collection, dimensions: int
    ) -> list[tuple[str, str]]:
        """Create the vector index (replacing one with other options: Cosmos DB allows one
        vector index per path), and the products' text index for hybrid search."""
        wanted = cosmos_vector_index(self.index_name, dimensions, self.options)
        what = f"Cosmos DB {self.options.kind} index {self.index_name}"
        coll = db[collection]
        rows: list[tuple[str, str]] = []
        try:
            status = "created"
            for ix in await (await coll.list_indexes()).to_list(None):
                if dict(ix.get("key", {})).get(VECTOR_FIELD) != "cosmosSearch":
                    continue
                current = ix.get("cosmosSearch") or ix.get("cosmosSearchOptions") or {}
                if all(current.get(k) == v for k, v in wanted["cosmosSearchOptions"].items()):
                    status = "exists"
                    break
                await coll.drop_index(ix["name"])
                status = "updated"
            if status != "exists":
                await db.command({"createIndexes": collection, "indexes": [wanted]})
            rows.append((what, status))
            if collection == "products":
                await coll.create_indexes([cosmos_text_index(self.text_index_name)])
                rows.append((f"text index {self.text_index_name}", "done"))
        except OperationFailure as exc:
            raise StoreError(
                f"cannot create the Cosmos DB vector index {self.index_name!r} on {collection} "
                f"({_reason(exc)}): this mode needs Azure Cosmos DB for MongoDB vCore; set "
                "COSMIC_WORKS_VECTOR_SEARCH=atlas for MongoDB Atlas or =exact for a community "
                "server"
            ) from None
        return rows

    async def vector(
        self,
        coll: AsyncCollection[Any],
        collection: Collection,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]:
        pipeline = cosmos_vector_pipeline(collection, query[0].tolist(), k, flt, self.options.kind)
        rows = await (await coll.aggregate(pipeline)).to_list(None)
        return [(clean(row["document"]), float(row.get("similarityScore", 0.0))) for row in rows]

    async def hybrid(
        self,
        coll: AsyncCollection[Any],
        text: str,
        query: FloatMatrix,
        k: int,
        flt: Mapping[str, str],
    ) -> list[RawHit]:
        vector = await self.vector(coll, "products", query, max(FUSION_DEPTH, k), flt)
        args = cosmos_keyword_query(text, flt, FUSION_DEPTH)
        keyword_rows: list[dict[str, Any]] = []
        if args is not None:
            flt_query, projection, sort, limit = args
            cursor = coll.find(flt_query, projection).sort(sort).limit(limit)
            keyword_rows = await cursor.to_list(None)
        docs: dict[Any, RawHit] = {doc["id"]: (doc, score) for doc, score in vector}
        for row in keyword_rows:
            row.pop("_text_score", None)
            doc = clean(row)
            docs.setdefault(doc["id"], (doc, _cosine(row, query)))
        fused = rrf([[d["id"] for d, _ in vector], [clean(r)["id"] for r in keyword_rows]])
        ranked = sorted(fused, key=lambda i: (-fused[i], -docs[i][1]))[:k]
        return [docs[i] for i in ranked]
