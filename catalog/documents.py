"""The text embedded for each document: its meaningful fields, never ids, vectors or secrets."""

from __future__ import annotations

from catalog.models import Customer, Product, SalesOrder, _Document


def product_text(product: Product) -> str:
    tags = ", ".join(tag.name for tag in product.tags)
    parts = [
        product.name,
        f"Category: {product.categoryName}",
        f"SKU: {product.sku}",
        product.description,
        f"Tags: {tags}" if tags else "",
    ]
    return ". ".join(part for part in parts if part)


def customer_text(customer: Customer) -> str:
    places = sorted(
        {
            ", ".join(p for p in (address.city, address.state, address.country) if p)
            for address in customer.addresses
        }
        - {""}
    )
    parts = [
        " ".join(p for p in (customer.title, customer.firstName, customer.lastName) if p),
        f"Email: {customer.emailAddress}" if customer.emailAddress else "",
        f"Phone: {customer.phoneNumber}" if customer.phoneNumber else "",
        f"Lives in {'; '.join(places)}" if places else "",
    ]
    return ". ".join(part for part in parts if part)


def sales_order_text(order: SalesOrder, customer_name: str | None = None) -> str:
    lines = "; ".join(f"{line.quantity} x {line.name} ({line.sku})" for line in order.details)
    parts = [
        f"Sales order for customer {customer_name}" if customer_name else "Sales order",
        f"Ordered {order.orderDate[:10]}" if order.orderDate else "",
        f"Shipped {order.shipDate[:10]}" if order.shipDate else "",
        f"Items: {lines}" if lines else "",
        f"Total ${order.total:.2f}",
    ]
    return ". ".join(part for part in parts if part)


def document_text(document: _Document) -> str:
    if isinstance(document, Product):
        return product_text(document)
    if isinstance(document, Customer):
        return customer_text(document)
    if isinstance(document, SalesOrder):
        return sales_order_text(document)
    raise TypeError(f"unsupported document type {type(document).__name__}")
