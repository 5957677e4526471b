"""Reading sources (BOM, JSON Lines, URLs), validation with rejects, and loading into a store."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.embeddings import Embeddings

from catalog.loader import (
    SAMPLE_CUSTOMERS,
    SAMPLE_PRODUCTS,
    SourceError,
    classify,
    ensure_sample_loaded,
    load_catalog,
    parse_documents,
    plan_sources,
    read_documents,
    read_source,
    sample_path,
    validate_documents,
)
from catalog.sqlite_store import SqliteCatalogStore, open_sqlite_store


def raw_product(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"p-{i}",
        "categoryId": "c-frames",
        "categoryName": "Components, Road Frames",
        "sku": f"FR-X{i:03d}",
        "name": f"Frame {i}",
        "description": "A frame.",
        "price": 10.0 + i,
        "tags": [{"_id": "t", "name": "Frame"}],
        **extra,
    }


def raw_customer(i: int) -> dict[str, Any]:
    return {
        "type": "customer",
        "id": f"c-{i}",
        "customerId": f"c-{i}",
        "firstName": f"Zed{i}",
        "lastName": "Quist",
        "password": {"hash": "h", "salt": "s"},
    }


def raw_order(i: int, customer: int) -> dict[str, Any]:
    return {
        "type": "salesOrder",
        "id": f"o-{i}",
        "customerId": f"c-{customer}",
        "orderDate": "2024-01-02T00:00:00",
        "details": [{"sku": "FR-X001", "name": "Frame 1", "price": 11.0, "quantity": 2}],
    }


def write_json(path: Path, value: Any, bom: bool = False) -> Path:
    text = json.dumps(value, indent=2)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def sample_counts() -> dict[str, int]:
    products = json.loads(sample_path(SAMPLE_PRODUCTS).read_text("utf-8-sig"))
    mixed = json.loads(sample_path(SAMPLE_CUSTOMERS).read_text("utf-8-sig"))
    return {
        "products": len(products),
        "customers": sum(1 for d in mixed if d.get("type") == "customer"),
        "sales": sum(1 for d in mixed if d.get("type") == "salesOrder"),
    }


@pytest.fixture
async def store(
    tmp_path: Path, hashing_embeddings: Embeddings
) -> AsyncIterator[SqliteCatalogStore]:
    async with await open_sqlite_store(tmp_path / "catalog.sqlite", hashing_embeddings) as store:
        yield store


# ------------------------------------------------------------------------------- parsing


def test_parse_array_with_bom() -> None:
    data = b"\xef\xbb\xbf" + json.dumps([raw_product(1), raw_product(2)]).encode()
    assert [d["id"] for d in parse_documents(data, "x.json")] == ["p-1", "p-2"]


def test_parse_json_lines_and_single_object() -> None:
    lines = "\n".join(json.dumps(raw_product(i)) for i in range(3)) + "\n\n"
    assert len(parse_documents(("\ufeff" + lines).encode(), "x.jsonl")) == 3
    assert parse_documents(json.dumps(raw_product(7), indent=2), "one.json")[0]["id"] == "p-7"
    assert parse_documents(b"  \n", "empty.json") == []


def test_bad_json_is_fatal_with_line_info() -> None:
    with pytest.raises(SourceError, match=r"broken\.json: invalid JSON at line 3"):
        parse_documents(b'[\n{"id": "a"},\n{"id": }\n]', "broken.json")
    lines = json.dumps(raw_product(1)) + "\n{not json}\n"
    with pytest.raises(SourceError, match=r"x\.jsonl: invalid JSON Lines at line 2"):
        parse_documents(lines.encode(), "x.jsonl")
    with pytest.raises(SourceError, match="not UTF-8"):
        parse_documents(b"[\xff\xfe]", "latin.json")


def test_unreadable_file_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_documents(tmp_path / "missing.json")
    with pytest.raises(SourceError, match="directory"):
        read_documents(tmp_path)


# ------------------------------------------------------------------------------- validation


def test_classify_mixed_file() -> None:
    assert classify(raw_customer(1), "customers") == "customers"
    assert classify(raw_order(1, 1), "customers") == "sales"
    assert classify(raw_product(1)) == "products"
    assert classify({"type": "SalesOrder"}) == "sales"
    assert classify({"type": "spaceship"}) is None
    raws = [raw_customer(1), raw_order(1, 1), raw_order(2, 1), raw_customer(2)]
    parsed = validate_documents(raws, "customer.json", "customers")
    assert [d.id for d in parsed.documents["customers"]] == ["c-1", "c-2"]
    assert [d.id for d in parsed.documents["sales"]] == ["o-1", "o-2"]
    assert parsed.rejects == []


def test_rejects_name_index_and_reason() -> None:
    raws = [
        raw_product(0),
        raw_product(1, price="lots"),
        "not an object",
        {"type": "spaceship", "id": "s"},
        raw_product(4, sku=""),
        {k: v for k, v in raw_product(5).items() if k != "name"},
    ]
    parsed = validate_documents(raws, "products.json", "products")
    assert [d.id for d in parsed.documents["products"]] == ["p-0"]
    reasons = {r.index: str(r) for r in parsed.rejects}
    assert reasons[1].startswith("products.json[1]: price: Input should be a valid number")
    assert reasons[2] == "products.json[2]: not a JSON object"
    assert "spaceship" in reasons[3]
    assert reasons[4].startswith("products.json[4]: sku: String should have at least 1 character")
    assert reasons[5] == "products.json[5]: name: Field required"


def test_plan_sources_defaults_and_mixed_file(tmp_path: Path) -> None:
    sample = plan_sources(None, None, None)
    assert [default for _, default in sample] == ["products", "customers"]
    assert [Path(s).name for s, _ in sample] == [SAMPLE_PRODUCTS, SAMPLE_CUSTOMERS]
    mixed = str(tmp_path / "customer.json")
    assert plan_sources(None, mixed, None) == [(mixed, "customers")]  # no sample products
    assert plan_sources(None, mixed, mixed) == [(mixed, "customers")]  # read once
    sales = str(tmp_path / "sales.json")
    assert plan_sources(None, None, sales) == [(sales, "sales")]


# ------------------------------------------------------------------------------- URLs


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on 127.0.0.1 serving `tmp_path/www`."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_url_source_over_a_real_socket(http_dir: tuple[Path, str]) -> None:
    root, base = http_dir
    write_json(root / "product.json", [raw_product(1), raw_product(2)], bom=True)
    assert len(await read_source(f"{base}/product.json")) == 2
    with pytest.raises(SourceError, match="HTTP 404"):
        await read_source(f"{base}/missing.json")


def test_url_source_with_mock_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ok.jsonl":
            return httpx.Response(200, content=json.dumps(raw_product(1)).encode() + b"\n")
        return httpx.Response(500)

    transport = httpx.MockTransport(handler)
    assert read_documents("https://example.test/ok.jsonl", transport=transport)[0]["id"] == "p-1"
    with pytest.raises(SourceError, match="HTTP 500"):
        read_documents("https://example.test/bad.json", transport=transport)


async def test_unreachable_url_is_fatal() -> None:
    with pytest.raises(SourceError, match="cannot fetch"):
        await read_source("http://127.0.0.1:9/product.json")


# ------------------------------------------------------------------------------- loading


async def test_load_sample_by_default_and_idempotent(store: SqliteCatalogStore) -> None:
    expected = sample_counts()
    seen: dict[str, list[tuple[int, int]]] = {}
    report = await load_catalog(
        store, progress=lambda c, d, t: seen.setdefault(c, []).append((d, t))
    )
    assert report.rejects == []
    assert report.written == expected and report.totals == expected
    assert seen["products"][0] == (0, expected["products"])
    assert seen["sales"][-1] == (expected["sales"], expected["sales"])
    again = await load_catalog(store)
    assert again.totals == expected
    product = await store.get_product_by_sku("FR-R92B-58")
    assert product is not None and product.price == 1431.5
    assert await ensure_sample_loaded(store) is None


async def test_ensure_sample_loaded_fills_an_empty_store(store: SqliteCatalogStore) -> None:
    report = await ensure_sample_loaded(store)
    assert report is not None and report.totals == sample_counts()


async def test_broken_document_is_reported_and_the_rest_loaded(
    store: SqliteCatalogStore, tmp_path: Path
) -> None:
    docs = [raw_product(i) for i in range(20)]
    docs[17]["price"] = "n/a"
    products = write_json(tmp_path / "products.json", docs, bom=True)
    customers = write_json(tmp_path / "customer.json", [raw_customer(1)])
    report = await load_catalog(store, products=str(products), customers=str(customers))
    assert report.written == {"products": 19, "customers": 1, "sales": 0}
    assert [(r.index, r.reason) for r in report.rejects] == [
        (17, "price: Input should be a valid number, unable to parse string as a number")
    ]
    assert str(report.rejects[0]).startswith(f"{products}[17]: price:")
    assert not report.ok


async def test_mixed_file_loads_customers_before_sales(
    store: SqliteCatalogStore, tmp_path: Path
) -> None:
    # Orders listed before their customer: the loader still writes customers first, so each
    # order's embedded text carries the customer's name.
    mixed = write_json(
        tmp_path / "customer.json",
        [raw_order(1, 1), raw_order(2, 2), raw_customer(1), raw_customer(2)],
    )
    products = write_json(tmp_path / "p.jsonl", [])
    report = await load_catalog(store, products=str(products), customers=str(mixed))
    assert report.written == {"products": 0, "customers": 2, "sales": 2}
    with sqlite3.connect(store.path) as conn:
        text = conn.execute("SELECT text FROM sales WHERE id = 'o-2'").fetchone()[0]
    assert "Zed2 Quist" in text
    customer = await store.get_customer_by_id("c-1")
    assert customer is not None and "password" not in customer.model_dump()


async def test_replace_drops_first(store: SqliteCatalogStore, tmp_path: Path) -> None:
    first = write_json(tmp_path / "a.json", [raw_product(1), raw_product(2)])
    second = write_json(tmp_path / "b.json", [raw_product(3)])
    customers = write_json(tmp_path / "c.json", [raw_customer(1)])
    await load_catalog(store, products=str(first), customers=str(customers))
    kept = await load_catalog(store, products=str(second), customers=str(customers))
    assert kept.totals["products"] == 3
    replaced = await load_catalog(
        store, products=str(second), customers=str(customers), replace=True
    )
    assert replaced.totals == {"products": 1, "customers": 1, "sales": 0}
    assert await store.get_product_by_id("p-1") is None


async def test_fatal_source_error_touches_nothing(
    store: SqliteCatalogStore, tmp_path: Path
) -> None:
    good = write_json(tmp_path / "good.json", [raw_product(1)])
    customers = write_json(tmp_path / "c.json", [raw_customer(1)])
    await load_catalog(store, products=str(good), customers=str(customers))
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(SourceError):
        await load_catalog(store, products=str(broken), customers=str(customers), replace=True)
    assert await store.count("products") == 1


async def test_load_from_url(store: SqliteCatalogStore, http_dir: tuple[Path, str]) -> None:
    root, base = http_dir
    write_json(root / "product.json", [raw_product(1), raw_product(2)])
    lines = "\n".join(json.dumps(d) for d in (raw_customer(1), raw_order(1, 1)))
    (root / "customer.jsonl").write_text(lines)
    report = await load_catalog(
        store, products=f"{base}/product.json", customers=f"{base}/customer.jsonl"
    )
    assert report.written == {"products": 2, "customers": 1, "sales": 1}
