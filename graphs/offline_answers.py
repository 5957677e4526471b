"""Answer writing for the offline model: plain sentences and short lists from the tools' JSON.

Only facts present in the tool output are stated, prices are always written as `$1431.50` (two
decimals, no thousands separator) and order totals are summed from the line items, so an answer
can be checked against the data. Raw JSON, tool error text and stack traces are never repeated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from graphs.offline_routing import (
    CUSTOMER_ORDERS_K,
    Context,
    Focus,
    Route,
    Subject,
    customer_key,
    tokens,
)

Status = Literal["ok", "not_found", "error"]

OFFLINE_NOTE = (
    "I'm the offline demo model of the Cosmic Works assistant: I can answer questions about "
    "Cosmic Works products (by sku, name or description), customers and sales orders."
)
EXAMPLES = (
    "What was the price of the product with sku `FR-R92B-58`?",
    "What is the SKU of HL Road Frame - Black?",
    "What is HL Road Frame?",
)
GREETING = (
    "Hello! I'm the Cosmic Works assistant. I can help you with our bikes, components, clothing "
    "and accessories, and look up customers and sales orders. What would you like to know?"
)
THANKS = "You're welcome! Let me know if there is anything else I can help you with."
FAREWELL = "Goodbye, and happy riding!"
OFF_TOPIC = f"I don't know. {OFFLINE_NOTE}"

TOOL_SUBJECT: dict[str, Subject] = {
    "vector_search_products": "product",
    "get_product_by_id": "product",
    "get_product_by_sku": "product",
    "vector_search_customers": "customer",
    "get_customer_by_id": "customer",
    "vector_search_sales": "order",
    "get_sales_by_id": "order",
}
_SUBJECT_LABEL: dict[Subject, tuple[str, str]] = {
    "product": ("product", "products"),
    "customer": ("customer", "customers"),
    "order": ("sales order", "sales orders"),
}
_NOT_FOUND_HINT: dict[str, str] = {
    "get_product_by_sku": "Please check the sku, or ask about the product by name or description.",
    "get_product_by_id": "You can also ask about the product by name or sku.",
    "vector_search_products": "Try a broader question, for example without a category.",
    "get_customer_by_id": "Please check the customer id, or ask about the customer by name.",
    "get_sales_by_id": "Please check the order id.",
}
_STOPWORDS = frozenset("the a an of for with and or in on to by".split())


@dataclass(frozen=True)
class ToolResult:
    """A tool's answer, read once: its status, what it is about, and its documents."""

    tool: str
    status: Status
    subject: Subject | None
    docs: tuple[dict[str, Any], ...] = ()
    message: str = ""
    is_search: bool = False


def _shape_subject(doc: dict[str, Any]) -> Subject | None:
    if "sku" in doc and "price" in doc:
        return "product"
    if "details" in doc:
        return "order"
    if {"firstName", "lastName", "emailAddress"} & doc.keys():
        return "customer"
    return None


def parse_tool_result(tool: str, content: Any, status: str = "success") -> ToolResult:
    """Read one ToolMessage. Anything unexpected counts as an error, never as data."""
    is_search = tool.startswith("vector_search")
    text = content if isinstance(content, str) else _text_of(content)
    if status == "error" or text.lstrip().lower().startswith("error"):
        return ToolResult(tool, "error", TOOL_SUBJECT.get(tool), is_search=is_search)
    try:
        data = json.loads(text)
    except ValueError:
        return ToolResult(tool, "error", TOOL_SUBJECT.get(tool), is_search=is_search)
    if isinstance(data, dict) and "error" in data:
        status_: Status = "not_found" if data.get("error") == "not_found" else "error"
        message = str(data.get("message") or "") if status_ == "not_found" else ""
        return ToolResult(tool, status_, TOOL_SUBJECT.get(tool), (), message, is_search)
    items = data if isinstance(data, list) else [data]
    docs = tuple(item for item in items if isinstance(item, dict))
    if len(docs) != len(items):
        return ToolResult(tool, "error", TOOL_SUBJECT.get(tool), is_search=is_search)
    subject = TOOL_SUBJECT.get(tool) or next(
        (s for s in map(_shape_subject, docs) if s is not None), None
    )
    return ToolResult(tool, "ok", subject, docs, "", is_search or isinstance(data, list))


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str | dict)
        )
    return str(content)


# --- formatting -------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def format_price(value: Any) -> str:
    """`$1431.50`: US dollars, two decimals, no thousands separator."""
    amount = _decimal(value)
    if amount is None or not amount.is_finite():
        return "an unknown price"
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def order_total(order: dict[str, Any]) -> Decimal:
    """The sum of price × quantity over the order's line items (exact decimal arithmetic)."""
    total = Decimal(0)
    for line in order.get("details") or []:
        if isinstance(line, dict):
            price = _decimal(line.get("price")) or Decimal(0)
            quantity = _decimal(line.get("quantity")) or Decimal(0)
            total += price * quantity
    return total


def _date(value: Any) -> str:
    text = str(value or "")
    return text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", text) else text


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def _quoted(phrase: str) -> str:
    return f' matching "{phrase}"' if phrase else ""


def _significant(words: Iterable[str]) -> set[str]:
    """Comparable words: no stopwords, a plural "s" dropped (helmets ~ Helmet)."""
    out = set()
    for word in words:
        for part in re.split(r"[^\w@.]+", word):
            if part and part not in _STOPWORDS:
                out.add(part[:-1] if len(part) > 3 and part.endswith("s") else part)
    return out


def relevant(
    docs: Sequence[dict[str, Any]], phrase: str, fields: Sequence[str]
) -> list[dict[str, Any]]:
    """The documents whose `fields` contain every significant word of `phrase`.

    Vector search always returns its k nearest documents; keeping only the ones that name what
    was asked turns "HL Road Frame - Black" into the black frames, not the red ones too.
    """
    wanted = _significant(tokens(phrase))
    if not wanted:
        return list(docs)
    matches = []
    for doc in docs:
        values: list[str] = []
        for name in fields:
            value = doc.get(name)
            if isinstance(value, list):
                values.extend(_flatten_text(value))
            elif value is not None:
                values.append(str(value))
        if wanted <= _significant(tokens(" ".join(values))):
            matches.append(doc)
    return matches


def _flatten_text(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, dict):
            out.extend(str(v) for v in value.values() if isinstance(v, str | int | float))
        else:
            out.append(str(value))
    return out


PRODUCT_FIELDS = ("name", "sku", "categoryName", "tags")
ORDER_FIELDS = ("id", "customerId", "details")
CUSTOMER_FIELDS = ("name", "firstName", "lastName", "emailAddress", "phoneNumber", "addresses")


def best_customer(
    docs: Sequence[dict[str, Any]], phrase: str, *, strict: bool = False
) -> dict[str, Any] | None:
    """The customer a search most likely meant: the first that names the phrase, else the first.

    `strict` returns None rather than a customer that does not name the phrase: before listing
    someone's orders the model must be sure whose they are.
    """
    candidates = relevant(docs, phrase, CUSTOMER_FIELDS)
    if not strict:
        candidates = candidates or list(docs)
    return candidates[0] if candidates else None


def shown_products(result: ToolResult, phrase: str) -> tuple[list[dict[str, Any]], bool]:
    """The products an answer lists, and whether they name the phrase.

    Lookups are shown as they are; for a search, the hits naming the phrase when there are any,
    else every hit as "the closest products".
    """
    if not result.is_search:
        return list(result.docs), True
    matches = relevant(result.docs, phrase, PRODUCT_FIELDS)
    return (matches, True) if matches else (list(result.docs), False)


# --- products ---------------------------------------------------------------------------------


def _the(name: str) -> str:
    return name if name.lower().startswith("the ") else f"the {name}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def product_sentence(doc: dict[str, Any], focus: Focus) -> str:
    """One product in one or two sentences, leading with what was asked."""
    name = str(doc.get("name") or "product")
    sku = str(doc.get("sku") or "unknown")
    category = str(doc.get("categoryName") or "")
    price = format_price(doc.get("price"))
    in_category = f", {category}" if category else ""
    if focus == "sku":
        extra = ", ".join(p for p in (category, price) if p)
        return f"The sku of {_the(name)} is {sku} ({extra})."
    if focus == "category" and category:
        return f"{_cap(_the(name))} (sku {sku}) is in the {category} category and costs {price}."
    if focus == "describe":
        description = _sentence(str(doc.get("description") or ""))
        where = f" is in the {category} category" if category else ""
        if description:
            return f"{_cap(_the(name))} (sku {sku}){where}: {description} It costs {price}."
        return f"{_cap(_the(name))} (sku {sku}){where} and costs {price}."
    return f"{_cap(_the(name))} (sku {sku}{in_category}) costs {price}."


def _product_line(doc: dict[str, Any], focus: Focus) -> str:
    name = str(doc.get("name") or "product")
    sku = str(doc.get("sku") or "unknown")
    price = format_price(doc.get("price"))
    if focus == "sku":
        return f"- {sku}: {name} ({price})"
    if focus == "category":
        return f"- {name} (sku {sku}): {doc.get('categoryName') or 'no category'}, {price}"
    return f"- {name} (sku {sku}): {price}"


def answer_products(docs: Sequence[dict[str, Any]], focus: Focus, phrase: str, exact: bool) -> str:
    """Products as a sentence (one) or a short list (several); `exact` when they name the phrase."""
    if not docs:
        return f"I couldn't find any products{_quoted(phrase)}."
    if not exact:
        intro = f'I couldn\'t find a product matching "{phrase}" exactly. The closest products are:'
        return "\n".join([intro, *(_product_line(d, "summary") for d in docs)])
    if len(docs) == 1:
        return product_sentence(docs[0], focus)
    if focus == "describe":
        others = "\n".join(_product_line(d, "summary") for d in docs[1:])
        lead = product_sentence(docs[0], "describe")
        return f"{lead}\n\nOther products{_quoted(phrase)}:\n{others}"
    prices = {format_price(d.get("price")) for d in docs}
    subject = f"the products{_quoted(phrase)}" if phrase else "those products"
    everyone = f"All {len(docs)} products{_quoted(phrase)}" if phrase else "All of them"
    if focus == "sku":
        intro = f"Here are the skus of {subject}:"
    elif focus == "category":
        intro = f"Here are the categories of {subject}:"
    elif focus == "price" and len(prices) == 1:
        intro = f"{everyone} cost {prices.pop()}:"
    elif focus == "price":
        intro = f"Here are the prices of {subject}:"
    else:
        intro = f"I found these products{_quoted(phrase)}:"
    return "\n".join([intro, *(_product_line(d, focus) for d in docs)])


# --- customers --------------------------------------------------------------------------------


def _customer_name(doc: dict[str, Any]) -> str:
    name = doc.get("name") or " ".join(str(doc.get(k) or "") for k in ("firstName", "lastName"))
    return str(name).strip() or f"Customer {customer_key(doc)}".strip()


def _place(doc: dict[str, Any]) -> str:
    addresses = doc.get("addresses") or []
    first = addresses[0] if addresses and isinstance(addresses[0], dict) else {}
    return ", ".join(str(first[k]) for k in ("city", "state", "country") if first.get(k))


def _orders_phrase(count: Any) -> str:
    return f"{count} sales order{'' if count == 1 else 's'}"


def customer_sentence(doc: dict[str, Any], focus: Focus) -> str:
    """One customer, leading with the detail asked for."""
    name = _customer_name(doc)
    email, phone, place = doc.get("emailAddress"), doc.get("phoneNumber"), _place(doc)
    count = doc.get("salesOrderCount")
    if focus == "email" and email:
        return f"{name}'s email address is {email}."
    if focus == "phone" and phone:
        return f"{name}'s phone number is {phone}."
    if focus == "address" and place:
        return f"{name} lives in {place}."
    if focus == "order_count" and count is not None:
        return f"{name} has placed {_orders_phrase(count)}."
    facts = [
        f"email {email}" if email else "",
        f"phone {phone}" if phone else "",
        f"lives in {place}" if place else "",
        _orders_phrase(count) if count is not None else "",
    ]
    details = ", ".join(f for f in facts if f)
    key = customer_key(doc)
    ident = f" (customer id {key})" if key else ""
    return f"{name}{ident}: {details}." if details else f"{name}{ident}."


def _customer_line(doc: dict[str, Any], focus: Focus) -> str:
    sentence = customer_sentence(doc, focus)
    return f"- {sentence[:-1] if sentence.endswith('.') else sentence}"


def answer_customers(docs: Sequence[dict[str, Any]], focus: Focus, phrase: str) -> str:
    """Customers as a sentence or a short list; name matches first."""
    if not docs:
        return f"I couldn't find any customers{_quoted(phrase)}."
    matches = relevant(docs, phrase, CUSTOMER_FIELDS)
    if len(matches) == 1:
        return customer_sentence(matches[0], focus)
    shown = matches or list(docs)
    if len(shown) == 1:
        return customer_sentence(shown[0], focus)
    intro = (
        f"I found these customers{_quoted(phrase)}:"
        if matches
        else f'No customer matches "{phrase}" exactly. The closest customers are:'
    )
    return "\n".join([intro, *(_customer_line(d, focus) for d in shown)])


# --- sales orders -----------------------------------------------------------------------------


def _line_item(line: dict[str, Any]) -> str:
    quantity = line.get("quantity", 1)
    name, sku = line.get("name") or "item", line.get("sku") or "no sku"
    price = format_price(line.get("price"))
    text = f"{quantity} × {name} ({sku}) at {price}"
    subtotal = (_decimal(line.get("price")) or Decimal(0)) * (_decimal(quantity) or Decimal(0))
    if quantity != 1:
        text += f" each = {format_price(subtotal)}"
    return text


def _lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in order.get("details") or [] if isinstance(line, dict)]


def order_sentence(order: dict[str, Any]) -> str:
    """One order: who, when, each line item, and the total of the line items."""
    head = f"Order {order.get('id', 'unknown')}"
    if order.get("orderDate"):
        head += f" was placed on {_date(order['orderDate'])}"
    else:
        head += " was placed"
    if order.get("customerId"):
        head += f" by customer {order['customerId']}"
    if order.get("shipDate"):
        head += f" and shipped on {_date(order['shipDate'])}"
    lines = "\n".join(f"- {_line_item(line)}" for line in _lines(order))
    total = f"Total: {format_price(order_total(order))}."
    return f"{head}.\n{lines}\n{total}" if lines else f"{head}. It has no line items."


def _order_line(order: dict[str, Any], show_customer: bool = True) -> str:
    date = f" of {_date(order['orderDate'])}" if order.get("orderDate") else ""
    customer = ""
    if show_customer and order.get("customerId"):
        customer = f" (customer {order['customerId']})"
    items = "; ".join(_line_item(line) for line in _lines(order)) or "no line items"
    total = format_price(order_total(order))
    return f"- Order {order.get('id', 'unknown')}{date}{customer}: {items}. Total {total}"


def answer_orders(docs: Sequence[dict[str, Any]], phrase: str) -> str:
    """Orders found by a search or lookup: the full order when one matches, else a list."""
    if not docs:
        return f"I couldn't find any sales orders{_quoted(phrase)}."
    matches = relevant(docs, phrase, ORDER_FIELDS)
    if len(matches) == 1:
        return order_sentence(matches[0])
    intro = (
        f"I found these sales orders{_quoted(phrase)}:"
        if matches
        else f'No sales order matches "{phrase}" exactly. The closest sales orders are:'
    )
    return "\n".join([intro, *(_order_line(d) for d in matches or docs)])


def orders_of(name: str, docs: Sequence[dict[str, Any]]) -> str:
    """One customer's orders (already filtered on the customer id by the tool)."""
    if len(docs) == 1:
        return f"{name} has one sales order:\n{order_sentence(docs[0])}"
    if len(docs) >= CUSTOMER_ORDERS_K:  # the search may have stopped at k
        intro = f"Here are {len(docs)} of {name}'s sales orders:"
    else:
        intro = f"{name} has {_orders_phrase(len(docs))}:"
    return "\n".join([intro, *(_order_line(d, show_customer=False) for d in docs)])


# --- failures and canned replies --------------------------------------------------------------


def answer_failure(result: ToolResult) -> str:
    """not_found: the tool's first sentence and a hint; error: that the lookup failed."""
    label = _SUBJECT_LABEL[result.subject or "product"][0]
    if result.status == "error":
        return (
            f"Sorry, the {label} lookup failed, so I can't answer that right now. "
            "Please try again in a moment."
        )
    first = re.split(r"(?<=\.)\s", result.message.strip(), maxsplit=1)[0]
    first = _sentence(first) if first else f"No matching {label} was found."
    hint = _NOT_FOUND_HINT.get(result.tool, "")
    return " ".join(p for p in (f"Sorry, I couldn't find that. {first}", hint) if p)


def help_text(lead: str = "") -> str:
    """The offline model's self-description, with the frontend's example questions."""
    examples = "\n".join(f"- {example}" for example in EXAMPLES)
    intro = f"{lead} " if lead else ""
    return f"{intro}{OFFLINE_NOTE} Try for example:\n{examples}"


def unknown_text() -> str:
    return help_text("Sorry, I couldn't work out what to look up for that question.")


def clarify_text(subject: Subject | None) -> str:
    if subject == "customer":
        return (
            "I'm not sure which customer you mean. Please ask about a customer by name first, "
            'for example "Find the customer named Franklin Ye".'
        )
    return help_text("I'm not sure which product you mean. Please give its sku or name.")


def tool_unavailable_text(tool: str) -> str:
    return (
        f"I can't look that up: the {tool} tool is not available to me here. "
        "(I'm the offline demo model of the Cosmic Works assistant.)"
    )


# --- composition ------------------------------------------------------------------------------


def answer_result(route: Route, result: ToolResult) -> str:
    """The answer to one tool result, in the light of the question's route."""
    if result.status != "ok":
        return answer_failure(result)
    if result.subject == "product":
        shown, exact = shown_products(result, route.phrase)
        return answer_products(shown, route.focus, route.phrase, exact)
    if result.subject == "customer":
        if not result.is_search and len(result.docs) == 1:
            return customer_sentence(result.docs[0], route.focus)
        return answer_customers(result.docs, route.focus, route.phrase)
    if result.subject == "order":
        return answer_orders(result.docs, route.phrase)
    return "I found something, but I can't read it. Please ask in another way."


def answer_customer_orders(route: Route, results: Sequence[ToolResult], context: Context) -> str:
    """A customer's orders: the customer found this turn (or earlier), then their orders."""
    customer: dict[str, Any] | None = None
    for result in results:
        if result.subject == "customer":
            if result.status != "ok":
                return answer_failure(result)
            customer = best_customer(result.docs, route.phrase, strict=True)
            if customer is None:
                return f'I couldn\'t find a customer matching "{route.phrase}".'
    earlier = context.customer
    if customer is None and earlier is not None:
        # A follow-up ("what did they order?") names the customer found in an earlier turn.
        if route.phrase == customer_key(earlier):
            customer = earlier
    sales = [r for r in results if r.subject == "order"]
    name = _customer_name(customer) if customer else f"Customer {route.phrase}"
    if not sales:
        return customer_sentence(customer, "summary") if customer else unknown_text()
    result = sales[-1]
    if result.status == "not_found" or (result.status == "ok" and not result.docs):
        return f"I couldn't find any sales orders for {name}."
    if result.status != "ok":
        return answer_failure(result)
    return orders_of(name, result.docs)


def answer_followup(route: Route, context: Context) -> str:
    """Answer "and its price?" from the product or customer an earlier turn found."""
    if route.subject == "customer" and context.customer is not None:
        return customer_sentence(context.customer, route.focus)
    products = context.products
    if len(products) == 1:
        return product_sentence(products[0], route.focus)
    return answer_products(products, route.focus, "", exact=True)


def write_answer(route: Route, results: Sequence[ToolResult], context: Context) -> str:
    """The final answer of a turn from every tool result it produced."""
    if route.intent == "customer_orders":
        return answer_customer_orders(route, results, context)
    if not results:
        return unknown_text()
    return "\n\n".join(answer_result(route, result) for result in results)


def canned_reply(route: Route, context: Context) -> str:
    """Replies that need no tool: small talk, off-topic, help, follow-ups from history."""
    if route.intent == "greeting":
        return GREETING
    if route.intent == "thanks":
        return THANKS
    if route.intent == "farewell":
        return FAREWELL
    if route.intent == "off_topic":
        return OFF_TOPIC
    if route.intent == "help":
        return help_text()
    if route.intent == "followup":
        return answer_followup(route, context)
    if route.intent == "clarify":
        return clarify_text(route.subject)
    return unknown_text()
