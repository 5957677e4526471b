"""The Cosmic Works tools: thin, typed wrappers over a `CatalogStore` that return compact JSON.

Every tool answers with a JSON string: a document object for lookups, a JSON array for searches,
and `{"error": "not_found", "message": ...}` when nothing matches, so that "not found" reaches the
model as an answer it can relay rather than as an exception. Documents never carry vectors,
password hashes or salts (the models strip them at load time; `_compact` drops anything left).
"""

from __future__ import annotations

from typing import Any

import orjson
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from catalog.models import Customer, Product, SalesOrder, _Document
from catalog.store import CatalogStore, SearchHit

DEFAULT_K = 3
MAX_K = 10
_NEVER_RETURNED = frozenset(
    {"password", "hash", "salt", "contentVector", "vector", "embedding", "embeddings"}
)


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if k not in _NEVER_RETURNED}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return orjson.dumps(_compact(value)).decode()


def _product_json(product: Product) -> dict[str, Any]:
    data = product.public_dict()
    data["tags"] = [tag["name"] for tag in data.get("tags", []) if "name" in tag]
    return data


def _customer_json(customer: Customer) -> dict[str, Any]:
    data = customer.public_dict()
    data["name"] = customer.full_name
    for address in data.get("addresses", []):
        address.pop("location", None)
    return data


def _order_json(order: SalesOrder) -> dict[str, Any]:
    data = order.public_dict()
    data["total"] = order.total
    return data


def document_json(document: _Document) -> dict[str, Any]:
    """The JSON a tool returns for one document."""
    if isinstance(document, Product):
        return _product_json(document)
    if isinstance(document, Customer):
        return _customer_json(document)
    if isinstance(document, SalesOrder):
        return _order_json(document)
    return document.public_dict()


def _hits_json(hits: list[SearchHit]) -> str:
    items = []
    for hit in hits:
        item = document_json(hit.document)
        item["similarity"] = round(hit.score, 4)
        items.append(item)
    return _dumps(items)


def _not_found(message: str) -> str:
    return _dumps({"error": "not_found", "message": message})


# Argument schemas. Strict types: an object such as {"$ne": null} is rejected, and a string that
# looks like an operator is only ever compared as a literal value.
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchArgs(_Strict):
    query: StrictStr = Field(
        min_length=1, max_length=500, description="What to look for, in natural language."
    )
    k: StrictInt = Field(
        DEFAULT_K, ge=1, le=MAX_K, description=f"How many results to return (1-{MAX_K})."
    )


class ProductSearchArgs(SearchArgs):
    category: StrictStr | None = Field(
        None,
        max_length=100,
        description=(
            'Optional exact category name to restrict the search, e.g. "Components, Road Frames" '
            'or "Accessories, Helmets". Leave empty unless the user names a category.'
        ),
    )


class SalesSearchArgs(SearchArgs):
    customer_id: StrictStr | None = Field(
        None, max_length=100, description="Optional customer id to restrict to one customer."
    )


class SkuArgs(_Strict):
    sku: StrictStr = Field(
        min_length=1, max_length=100, description='The product sku, e.g. "FR-R92B-58".'
    )


class IdArgs(_Strict):
    id: StrictStr = Field(min_length=1, max_length=100, description="The document id.")


TOOL_NAMES = (
    "vector_search_products",
    "vector_search_customers",
    "vector_search_sales",
    "get_product_by_id",
    "get_product_by_sku",
    "get_sales_by_id",
    "get_customer_by_id",
)


def build_tools(store: CatalogStore) -> list[BaseTool]:
    """The agent's tools bound to one store (closures, so no global state)."""

    async def vector_search_products(
        query: str, k: int = DEFAULT_K, category: str | None = None
    ) -> str:
        flt = {"categoryName": category} if category else None
        hits = await store.hybrid_search_products(query, k=k, filter=flt)
        if not hits and category:
            return _not_found(f"No product in category {category!r} matches {query!r}.")
        return _hits_json(hits)

    async def vector_search_customers(query: str, k: int = DEFAULT_K) -> str:
        return _hits_json(await store.vector_search("customers", query, k=k))

    async def vector_search_sales(
        query: str, k: int = DEFAULT_K, customer_id: str | None = None
    ) -> str:
        flt = {"customerId": customer_id} if customer_id else None
        hits = await store.vector_search("sales", query, k=k, filter=flt)
        if not hits and customer_id:
            return _not_found(f"No sales order found for customer id {customer_id!r}.")
        return _hits_json(hits)

    async def get_product_by_id(id: str) -> str:
        product = await store.get_product_by_id(id.strip())
        if product is None:
            return _not_found(
                f"No product has id {id!r}. Use vector_search_products to search by description."
            )
        return _dumps(_product_json(product))

    async def get_product_by_sku(sku: str) -> str:
        product = await store.get_product_by_sku(sku.strip().strip("`'\""))
        if product is None:
            return _not_found(
                f"No product has sku {sku!r}. Check the sku, or use vector_search_products to "
                "search by name or description."
            )
        return _dumps(_product_json(product))

    async def get_sales_by_id(id: str) -> str:
        order = await store.get_sales_order_by_id(id.strip())
        if order is None:
            return _not_found(f"No sales order has id {id!r}.")
        return _dumps(_order_json(order))

    async def get_customer_by_id(id: str) -> str:
        customer = await store.get_customer_by_id(id.strip())
        if customer is None:
            return _not_found(f"No customer has id {id!r}.")
        return _dumps(_customer_json(customer))

    specs: list[tuple[Any, type[BaseModel], str]] = [
        (
            vector_search_products,
            ProductSearchArgs,
            "Search the Cosmic Works product catalog by meaning and keywords (name, category, "
            "description, tags). Use it for questions about products, e.g. 'lightweight road "
            "frame' or 'what helmets do you sell'. Returns a JSON array of products with name, "
            "sku, categoryName, price (in US dollars) and description, best match first.",
        ),
        (
            vector_search_customers,
            SearchArgs,
            "Search Cosmic Works customers by name, email, phone or city/country. Returns a JSON "
            "array of customers (id, name, email, phone, addresses, salesOrderCount).",
        ),
        (
            vector_search_sales,
            SalesSearchArgs,
            "Search Cosmic Works sales orders by customer name, products ordered or dates. "
            "Optionally restrict to one customer id. Returns a JSON array of orders with "
            "orderDate, shipDate, line items (sku, name, price, quantity) and total.",
        ),
        (
            get_product_by_id,
            IdArgs,
            "Get one product by its id (a GUID). Returns the product JSON or a not_found error.",
        ),
        (
            get_product_by_sku,
            SkuArgs,
            "Get one product by its exact sku (stock keeping unit, e.g. FR-R92B-58). Use it "
            "whenever the user gives a sku. Returns the product JSON (name, price in US "
            "dollars, category, description) or a not_found error.",
        ),
        (
            get_sales_by_id,
            IdArgs,
            "Get one sales order by its id. Returns the order with line items and total, or a "
            "not_found error.",
        ),
        (
            get_customer_by_id,
            IdArgs,
            "Get one customer by id (customer id). Returns name, email, phone, addresses and "
            "salesOrderCount, or a not_found error.",
        ),
    ]
    return [
        StructuredTool.from_function(
            coroutine=func,
            name=func.__name__,
            description=description,
            args_schema=schema,
        )
        for func, schema, description in specs
    ]
