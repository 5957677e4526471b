"""Each tool over the real sample catalog: found, not found, injection, and no secrets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from catalog.loader import SAMPLE_CUSTOMERS, sample_path
from catalog.sqlite_store import open_sqlite_store
from tools import TOOL_NAMES, build_tools

pytestmark = pytest.mark.timeout(900)

FORBIDDEN_KEYS = {"password", "hash", "salt", "contentVector", "vector", "embedding"}


@pytest.fixture
async def tools(
    sample_store_path: Path, local_embeddings: Any
) -> AsyncIterator[dict[str, BaseTool]]:
    store = await open_sqlite_store(sample_store_path, local_embeddings)
    try:
        yield {tool.name: tool for tool in build_tools(store)}
    finally:
        await store.aclose()


@pytest.fixture(scope="module")
def raw_customers() -> list[dict[str, Any]]:
    return json.loads(sample_path(SAMPLE_CUSTOMERS).read_text(encoding="utf-8-sig"))


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


async def _call(tool: BaseTool, **args: Any) -> Any:
    output = await tool.ainvoke(args)
    data = json.loads(output)
    assert not (_keys(data) & FORBIDDEN_KEYS), f"{tool.name} leaked {_keys(data) & FORBIDDEN_KEYS}"
    return data


def test_the_seven_tools_exist_with_descriptions(tools: dict[str, BaseTool]) -> None:
    assert set(tools) == set(TOOL_NAMES) and len(TOOL_NAMES) == 7
    for tool in tools.values():
        assert len(tool.description) > 40


async def test_get_product_by_sku(tools: dict[str, BaseTool]) -> None:
    product = await _call(tools["get_product_by_sku"], sku="FR-R92B-58")
    assert product["name"] == "HL Road Frame - Black, 58"
    assert product["price"] == 1431.5
    assert product["categoryName"] == "Components, Road Frames"
    assert await _call(tools["get_product_by_sku"], sku=" `fr-r92b-58` ") == product
    missing = await _call(tools["get_product_by_sku"], sku="NO-SUCH-SKU")
    assert missing["error"] == "not_found" and "NO-SUCH-SKU" in missing["message"]


async def test_operator_injection_is_a_literal_that_matches_nothing(
    tools: dict[str, BaseTool],
) -> None:
    for probe in ('{"$ne": null}', "' OR 1=1 --", "%", "*", ".*"):
        result = await _call(tools["get_product_by_sku"], sku=probe)
        assert result["error"] == "not_found"
        result = await _call(tools["get_customer_by_id"], id=probe)
        assert result["error"] == "not_found"
    with pytest.raises(ValidationError):
        await tools["get_product_by_sku"].ainvoke({"sku": {"$ne": None}})
    with pytest.raises(ValidationError):
        await tools["vector_search_products"].ainvoke({"query": "frame", "k": 1000})


async def test_get_product_by_id(tools: dict[str, BaseTool]) -> None:
    by_sku = await _call(tools["get_product_by_sku"], sku="FR-R92R-56")
    by_id = await _call(tools["get_product_by_id"], id=by_sku["id"])
    assert by_id == by_sku
    assert (await _call(tools["get_product_by_id"], id="0000"))["error"] == "not_found"


async def test_vector_search_products_with_and_without_category(
    tools: dict[str, BaseTool],
) -> None:
    hits = await _call(tools["vector_search_products"], query="red road frame size 56")
    assert hits[0]["sku"] == "FR-R92R-56"
    assert len(hits) == 3 and all("similarity" in h for h in hits)
    helmets = await _call(
        tools["vector_search_products"],
        query="keep my head safe",
        k=5,
        category="Accessories, Helmets",
    )
    assert len(helmets) == 5 and {h["categoryName"] for h in helmets} == {"Accessories, Helmets"}
    none = await _call(tools["vector_search_products"], query="frame", category="No Such")
    assert none["error"] == "not_found"


async def test_customers(tools: dict[str, BaseTool], raw_customers: list[dict[str, Any]]) -> None:
    raw = next(d for d in raw_customers if d.get("type") == "customer")
    customer = await _call(tools["get_customer_by_id"], id=raw["id"])
    assert customer["emailAddress"] == raw["emailAddress"]
    assert customer["name"] == f"{raw['firstName']} {raw['lastName']}"
    hits = await _call(
        tools["vector_search_customers"], query=f"{raw['firstName']} {raw['lastName']}"
    )
    assert raw["id"] in [h["id"] for h in hits]
    assert (await _call(tools["get_customer_by_id"], id="nobody"))["error"] == "not_found"


async def test_sales(tools: dict[str, BaseTool], raw_customers: list[dict[str, Any]]) -> None:
    raw = next(d for d in raw_customers if d.get("type") == "salesOrder" and len(d["details"]) > 1)
    order = await _call(tools["get_sales_by_id"], id=raw["id"])
    expected = round(sum(line["price"] * line["quantity"] for line in raw["details"]), 2)
    assert order["total"] == expected
    assert [line["sku"] for line in order["details"]] == [line["sku"] for line in raw["details"]]
    hits = await _call(
        tools["vector_search_sales"], query="bikes", k=10, customer_id=raw["customerId"]
    )
    assert hits and {h["customerId"] for h in hits} == {raw["customerId"]}
    none = await _call(tools["vector_search_sales"], query="bikes", customer_id="nobody")
    assert none["error"] == "not_found"
    assert (await _call(tools["get_sales_by_id"], id="nope"))["error"] == "not_found"
