"""Read Cosmic Works JSON (files or URLs), validate each document, and load it into a store.

Why so careful: the original lab's files come from many places (a BOM at the start, one array
mixing customers and sales orders, JSON Lines exports). A bad document must never abort the
load nor vanish: it is skipped and reported as `(source, index, reason)`. Only an unreadable
source or invalid JSON is fatal (`SourceError`), and that is raised before anything is dropped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from catalog.models import COLLECTIONS, MODEL_BY_COLLECTION, Collection, _Document
from catalog.store import CatalogStore

Source = str | Path
# progress(collection, done, total): called once with done=0, then after every batch.
LoadProgress = Callable[[Collection, int, int], None]

SAMPLE_PRODUCTS = "product.json"
SAMPLE_CUSTOMERS = "customer.json"  # customers and sales orders, mixed
HTTP_TIMEOUT_S = 60.0

_TYPES: dict[str, Collection] = {
    "product": "products",
    "customer": "customers",
    "salesorder": "sales",
    "sales_order": "sales",
    "sale": "sales",
    "order": "sales",
}


class SourceError(RuntimeError):
    """A source cannot be read or is not JSON / JSON Lines (message names source and line)."""


@dataclass(frozen=True, slots=True)
class Reject:
    """A document that failed validation: where it was (zero-based index) and why."""

    source: str
    index: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}[{self.index}]: {self.reason}"


@dataclass(slots=True)
class LoadReport:
    """What a load did: documents written and total in store per collection, and rejects."""

    written: dict[Collection, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    totals: dict[Collection, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    rejects: list[Reject] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejects


# --------------------------------------------------------------------------------- reading


def sample_path(name: str) -> Path:
    """A bundled sample file (`product.json` or `customer.json`) inside the `catalog` package."""
    return Path(str(files("catalog").joinpath("sample", name)))


def is_url(source: Source) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def source_name(source: Source) -> str:
    """How a source is named in messages: the URL or path as given."""
    return str(source)


def parse_documents(data: bytes | str, name: str) -> list[Any]:
    """A JSON array, a single JSON object, or JSON Lines; UTF-8 with or without BOM."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        try:
            value: list[Any] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from exc
        return value
    try:
        return [json.loads(text)]  # one (possibly pretty-printed) object
    except json.JSONDecodeError:
        pass
    documents: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{name}: invalid JSON Lines at line {lineno} column {exc.colno}: {exc.msg}"
            ) from exc
    return documents


def _read_file(source: Source) -> bytes:
    path = Path(source).expanduser()
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceError(f"{source}: no such file") from exc
    except IsADirectoryError as exc:
        raise SourceError(f"{source}: is a directory, expected a JSON file") from exc
    except OSError as exc:
        raise SourceError(f"{source}: cannot read: {exc.strerror or exc}") from exc


def _http_error(source: str, exc: Exception) -> SourceError:
    if isinstance(exc, httpx.HTTPStatusError):
        return SourceError(f"{source}: HTTP {exc.response.status_code}")
    return SourceError(f"{source}: cannot fetch: {exc}")


def read_documents(source: Source, *, transport: httpx.BaseTransport | None = None) -> list[Any]:
    """Raw documents of one source (path or http(s) URL), blocking."""
    if is_url(source):
        url = str(source)
        try:
            with httpx.Client(
                transport=transport, follow_redirects=True, timeout=HTTP_TIMEOUT_S
            ) as client:
                response = client.get(url)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise _http_error(url, exc) from exc
        return parse_documents(response.content, url)
    return parse_documents(_read_file(source), source_name(source))


async def read_source(
    source: Source, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[Any]:
    """Raw documents of one source without blocking the event loop."""
    if is_url(source):
        url = str(source)
        try:
            async with httpx.AsyncClient(
                transport=transport, follow_redirects=True, timeout=HTTP_TIMEOUT_S
            ) as client:
                response = await client.get(url)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise _http_error(url, exc) from exc
        return await asyncio.to_thread(parse_documents, response.content, url)
    data = await asyncio.to_thread(_read_file, source)
    return await asyncio.to_thread(parse_documents, data, source_name(source))


# --------------------------------------------------------------------------------- validating


def classify(raw: Any, default: Collection = "products") -> Collection | None:
    """The collection of a raw document: its `type` ("customer", "salesOrder"), else `default`.

    Returns None for a `type` we do not know (the caller reports it).
    """
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind is None or kind == "":
        return default
    if not isinstance(kind, str):
        return None
    return _TYPES.get(kind.strip().lower())


def error_reason(exc: ValidationError) -> str:
    """Compact pydantic error: `field: message` for each problem, `; `-separated."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else error["msg"])
    return "; ".join(parts)


@dataclass(slots=True)
class Parsed:
    """Validated documents of one or more sources, split by collection, plus the rejects."""

    documents: dict[Collection, list[_Document]] = field(
        default_factory=lambda: {name: [] for name in COLLECTIONS}
    )
    rejects: list[Reject] = field(default_factory=list)


def validate_documents(
    raws: Iterable[Any], name: str, default: Collection, into: Parsed | None = None
) -> Parsed:
    """Validate each raw document into its model; failures become rejects, never exceptions."""
    parsed = into if into is not None else Parsed()
    for index, raw in enumerate(raws):
        if not isinstance(raw, dict):
            parsed.rejects.append(Reject(name, index, "not a JSON object"))
            continue
        collection = classify(raw, default)
        if collection is None:
            parsed.rejects.append(Reject(name, index, f"type: unknown type {raw.get('type')!r}"))
            continue
        try:
            document = MODEL_BY_COLLECTION[collection].model_validate(raw)
        except ValidationError as exc:
            parsed.rejects.append(Reject(name, index, error_reason(exc)))
            continue
        parsed.documents[collection].append(document)
    return parsed


# --------------------------------------------------------------------------------- loading


def plan_sources(
    products: Source | None, customers: Source | None, sales: Source | None
) -> list[tuple[Source, Collection]]:
    """Distinct sources to read, each with the collection of its untyped documents.

    With no source at all, the bundled sample is loaded (`product.json`, and `customer.json`
    which mixes customers and sales orders as the original data does). Once any source is
    given, only the given ones are read: `load --products my.json` must not reload the sample's
    customers. Every document of every source goes to the collection its `type` names.
    """
    if products is None and customers is None and sales is None:
        return [
            (sample_path(SAMPLE_PRODUCTS), "products"),
            (sample_path(SAMPLE_CUSTOMERS), "customers"),
        ]
    plan: list[tuple[Source, Collection]] = []
    if products is not None:
        plan.append((products, "products"))
    if customers is not None:
        plan.append((customers, "customers"))
    if sales is not None:
        plan.append((sales, "sales"))
    seen: set[str] = set()
    distinct = []
    for source, default in plan:
        key = str(source) if is_url(source) else str(Path(source).expanduser().resolve())
        if key not in seen:
            seen.add(key)
            distinct.append((source, default))
    return distinct


async def read_catalog(
    products: Source | None = None,
    customers: Source | None = None,
    sales: Source | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[Parsed, list[str]]:
    """Read and validate every planned source; raises `SourceError` before touching a store."""
    parsed = Parsed()
    names: list[str] = []
    for source, default in plan_sources(products, customers, sales):
        name = source_name(source)
        raws = await read_source(source, transport=transport)
        names.append(name)
        await asyncio.to_thread(validate_documents, raws, name, default, parsed)
    return parsed, names


async def load_catalog(
    store: CatalogStore,
    products: Source | None = None,
    customers: Source | None = None,
    sales: Source | None = None,
    *,
    replace: bool = False,
    progress: LoadProgress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadReport:
    """Load products, then customers, then sales orders (their text names the customer).

    Upserts by id, so loading twice changes nothing. `replace=True` first drops the
    collections this load writes (all of them with the defaults).
    """
    parsed, names = await read_catalog(products, customers, sales, transport=transport)
    report = LoadReport(rejects=parsed.rejects, sources=names)
    targets = [c for c in COLLECTIONS if parsed.documents[c] or _requested(c, customers, sales)]
    if replace:
        if set(targets) == set(COLLECTIONS):
            await store.drop()
        else:
            for collection in targets:
                await store.drop(collection)
    for collection in COLLECTIONS:  # products, customers, sales: customers before sales
        documents = parsed.documents[collection]
        if not documents:
            continue
        total = len(documents)
        done = 0
        if progress is not None:
            progress(collection, 0, total)

        def advance(n: int, collection: Collection = collection, total: int = total) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(collection, done, total)

        report.written[collection] = await store.upsert_many(collection, documents, advance)
    for collection in COLLECTIONS:
        report.totals[collection] = await store.count(collection)
    return report


def _requested(collection: Collection, customers: Source | None, sales: Source | None) -> bool:
    if collection == "products":
        return True
    if customers is None and sales is None:
        return True  # the sample provides both
    return (customers if collection == "customers" else sales) is not None


async def ensure_sample_loaded(
    store: CatalogStore, progress: LoadProgress | None = None
) -> LoadReport | None:
    """Load the bundled sample into an empty store (first `serve`); None when it had data."""
    for collection in COLLECTIONS:
        if await store.count(collection):
            return None
    return await load_catalog(store, progress=progress)
