"""The offline chat model: routing, answers from tool JSON, follow-ups, streaming, the graph."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, cast

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver

from catalog.models import Customer, Product, SalesOrder, _Document
from catalog.store import CatalogStore, SearchFilter, SearchHit
from graphs.graph import build_graph
from graphs.offline_answers import format_price
from graphs.offline_model import OfflineChatModel
from graphs.offline_routing import find_skus
from tools.catalog_tools import TOOL_NAMES, build_tools

GUID = "0ab9f9c3-1111-4f2e-9a6b-0123456789ab"
FRANKLIN_ID = "5f2c3a10-0d5e-4a44-9c11-3e0b1a2f9d01"

FRAME_58 = {
    "id": "a7d1b9c4-2222-4b1a-8e7f-000000000058",
    "categoryName": "Components, Road Frames",
    "sku": "FR-R92B-58",
    "name": "HL Road Frame - Black, 58",
    "description": "Our lightest and best quality aluminum frame made from the newest alloy.",
    "price": 1431.5,
    "tags": ["Road", "Frame"],
}


def _frame(sku: str, name: str, price: float = 1431.5) -> dict[str, Any]:
    return {**FRAME_58, "id": f"id-{sku}", "sku": sku, "name": name, "price": price}


FRAMES = [
    FRAME_58,
    _frame("FR-R92B-44", "HL Road Frame - Black, 44"),
    _frame("FR-R92R-58", "HL Road Frame - Red, 58"),
    _frame("FR-R38B-58", "LL Road Frame - Black, 58", 337.22),
]
HELMET = {
    "id": "id-helmet",
    "categoryName": "Accessories, Helmets",
    "sku": "HL-U509-R",
    "name": "Sport-100 Helmet, Red",
    "description": "Universal fit, well-vented, lightweight.",
    "price": 34.99,
    "tags": [],
}
FRANKLIN = {
    "id": FRANKLIN_ID,
    "customerId": FRANKLIN_ID,
    "name": "Franklin Ye",
    "firstName": "Franklin",
    "lastName": "Ye",
    "emailAddress": "franklin9@adventure-works.com",
    "phoneNumber": "1 (11) 500 555-0139",
    "addresses": [{"addressLine1": "1 Main St", "city": "Seattle", "country": "US"}],
    "salesOrderCount": 2,
}
ORDER = {
    "id": "order-1",
    "customerId": FRANKLIN_ID,
    "orderDate": "2013-06-13T00:00:00",
    "shipDate": "2013-06-20T00:00:00",
    "details": [
        {"sku": "HL-U509-R", "name": "Sport-100 Helmet, Red", "price": 34.99, "quantity": 2},
        {"sku": "FR-R92B-58", "name": "HL Road Frame - Black, 58", "price": 1431.5, "quantity": 1},
    ],
    "total": 0,  # deliberately wrong: the answer sums the line items
}
ORDER_2 = {
    "id": "order-2",
    "customerId": FRANKLIN_ID,
    "orderDate": "2014-01-02T00:00:00",
    "details": [{"sku": "WB-H098", "name": "Water Bottle - 30 oz.", "price": 4.99, "quantity": 3}],
}
EXAMPLES = (
    "What was the price of the product with sku `FR-R92B-58`?",
    "What is the SKU of HL Road Frame - Black?",
    "What is HL Road Frame?",
)


def _schema(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": name, "parameters": {"type": "object"}},
    }


ALL_TOOLS = [_schema(name) for name in TOOL_NAMES]


def _model(tools: Sequence[Any] = ALL_TOOLS) -> Any:
    return OfflineChatModel().bind_tools(list(tools))


def _ask(messages: Sequence[BaseMessage], tools: Sequence[Any] = ALL_TOOLS) -> AIMessage:
    result = _model(tools).invoke([SystemMessage(content="system"), *messages])
    assert isinstance(result, AIMessage)
    return result


def _turn(
    question: str, tool: str, payload: Any, args: dict[str, Any] | None = None, **kw: Any
) -> list[BaseMessage]:
    """A question, the model's call to `tool`, and the tool's (hand-written) JSON answer."""
    call_id = f"call_{tool}"
    content = payload if isinstance(payload, str) else json.dumps(payload)
    return [
        HumanMessage(content=question),
        AIMessage(content="", tool_calls=[{"name": tool, "args": args or {}, "id": call_id}]),
        ToolMessage(content=content, tool_call_id=call_id, name=tool, **kw),
    ]


def _answer(question: str, tool: str, payload: Any, **kw: Any) -> str:
    message = _ask(_turn(question, tool, payload, **kw))
    assert not message.tool_calls
    assert isinstance(message.content, str)
    return message.content


# --- routing ----------------------------------------------------------------------------------

ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    # the frontend's examples
    (EXAMPLES[0], "get_product_by_sku", {"sku": "FR-R92B-58"}),
    (EXAMPLES[1], "vector_search_products", {"query": "HL Road Frame - Black"}),
    (EXAMPLES[2], "vector_search_products", {"query": "HL Road Frame"}),
    # skus: backticks, quotes, lower case, several shapes
    (
        "What was the price of the product with sku `FR-R92B-58`",
        "get_product_by_sku",
        {"sku": "FR-R92B-58"},
    ),
    ("how much is fr-r92b-58", "get_product_by_sku", {"sku": "FR-R92B-58"}),
    ("Tell me about 'BK-M68B-42'", "get_product_by_sku", {"sku": "BK-M68B-42"}),
    ('price of "HL-U509-R"?', "get_product_by_sku", {"sku": "HL-U509-R"}),
    ("What is LJ-0192-L?", "get_product_by_sku", {"sku": "LJ-0192-L"}),
    ("Do you have wb-h098 in stock?", "get_product_by_sku", {"sku": "WB-H098"}),
    ("Which orders contain FR-R92B-58?", "vector_search_sales", {"query": "FR-R92B-58"}),
    # GUIDs
    (f"Get product {GUID}", "get_product_by_id", {"id": GUID}),
    (f"Show customer {GUID.upper()}", "get_customer_by_id", {"id": GUID}),
    (f"Which customer placed order {GUID}?", "get_sales_by_id", {"id": GUID}),
    (f"What is in sales order {GUID}?", "get_sales_by_id", {"id": GUID}),
    (f"What did customer {GUID} order?", "vector_search_sales", {"customer_id": GUID}),
    (GUID, "get_product_by_id", {"id": GUID}),
    # customers
    ("Which customers live in Seattle?", "vector_search_customers", {"query": "Seattle"}),
    ("What is the email of Franklin Ye?", "vector_search_customers", {"query": "Franklin Ye"}),
    ("phone number of Jane Smith", "vector_search_customers", {"query": "Jane Smith"}),
    ("Find the customer named Franklin Ye", "vector_search_customers", {"query": "Franklin Ye"}),
    ("Is there a client called Ana Price?", "vector_search_customers", {"query": "Ana Price"}),
    ("Who bought the HL Road Frame?", "vector_search_customers", {"query": "HL Road Frame"}),
    ("How many orders has Franklin placed?", "vector_search_customers", {"query": "Franklin"}),
    ("What did Franklin Ye order?", "vector_search_customers", {"query": "Franklin Ye"}),
    (
        "Show the orders of customer Franklin Ye",
        "vector_search_customers",
        {"query": "Franklin Ye"},
    ),
    # orders
    (
        "Which orders included the Sport-100 helmet?",
        "vector_search_sales",
        {"query": "Sport-100 helmet"},
    ),
    ("Show me recent sales orders", "vector_search_sales", {"query": "sales orders"}),
    (
        "When was the order for the HL Road Frame shipped?",
        "vector_search_sales",
        {"query": "HL Road Frame"},
    ),
    # products by name or kind
    (
        "How much is the Sport-100 Helmet, Red?",
        "vector_search_products",
        {"query": "Sport-100 Helmet, Red"},
    ),
    (
        "How much does the Mountain-200 Black, 38 cost?",
        "vector_search_products",
        {"query": "Mountain-200 Black, 38"},
    ),
    (
        "What's the price of the LL Road Frame?",
        "vector_search_products",
        {"query": "LL Road Frame"},
    ),
    ("Do you sell road frames?", "vector_search_products", {"query": "road frames"}),
    ("What helmets do you sell?", "vector_search_products", {"query": "helmets"}),
    ("Do you have any jerseys?", "vector_search_products", {"query": "jerseys"}),
    ("I'm looking for a touring bike", "vector_search_products", {"query": "touring bike"}),
    ("tell me about mountain tires", "vector_search_products", {"query": "mountain tires"}),
    (
        "What category is the Sport-100 Helmet, Blue in?",
        "vector_search_products",
        {"query": "Sport-100 Helmet, Blue"},
    ),
]


@pytest.mark.parametrize(("question", "tool", "args"), ROUTES)
def test_routing_table(question: str, tool: str, args: dict[str, Any]) -> None:
    message = _ask([HumanMessage(content=question)])
    assert message.content == ""
    assert len(message.tool_calls) == 1, message.content
    call = message.tool_calls[0]
    assert call["name"] == tool
    assert {key: call["args"].get(key) for key in args} == args
    assert re.fullmatch(r"call_[0-9a-f]{16}", call["id"] or "")


def test_routing_table_is_large_enough() -> None:
    assert len(ROUTES) >= 30


def test_several_skus_are_looked_up_in_parallel() -> None:
    message = _ask([HumanMessage(content="Compare FR-R92B-58 and `FR-R92R-58`")])
    assert [c["args"]["sku"] for c in message.tool_calls] == ["FR-R92B-58", "FR-R92R-58"]
    assert len({c["id"] for c in message.tool_calls}) == 2


@pytest.mark.parametrize(
    "text", ["co-op re-read e-mail", "Sport-100 Helmet", "Road-150 Red, 62", "call 555-0139"]
)
def test_words_with_hyphens_are_not_skus(text: str) -> None:
    assert find_skus(text) == []


@pytest.mark.parametrize("question", ["hi", "Hello there!", "good morning", "hey, how are you?"])
def test_greetings_need_no_tool(question: str) -> None:
    message = _ask([HumanMessage(content=question)])
    assert not message.tool_calls
    assert "Cosmic Works assistant" in message.content


@pytest.mark.parametrize(
    ("question", "expected"),
    [("thanks!", "You're welcome"), ("Thank you so much", "welcome"), ("bye", "Goodbye")],
)
def test_thanks_and_goodbye(question: str, expected: str) -> None:
    message = _ask([HumanMessage(content=question)])
    assert not message.tool_calls
    assert expected in message.content


@pytest.mark.parametrize(
    "question",
    [
        "What's the weather like today?",
        "What is the capital of France?",
        "Write a poem about bikes",
        "Tell me a joke",
        "Who won the world cup?",
    ],
)
def test_off_topic_answers_i_dont_know(question: str) -> None:
    message = _ask([HumanMessage(content=question)])
    assert not message.tool_calls
    assert message.text.startswith("I don't know.")
    assert "offline demo model" in message.content


@pytest.mark.parametrize("question", ["asdf qwer", "what can you do?", ""])
def test_unroutable_questions_explain_the_offline_model(question: str) -> None:
    message = _ask([HumanMessage(content=question)])
    assert not message.tool_calls
    assert "offline demo model" in message.content
    for example in EXAMPLES:
        assert example in message.content


def test_only_bound_tools_are_called() -> None:
    search_only = [_schema("vector_search_products")]
    sku = _ask([HumanMessage(content=EXAMPLES[0])], tools=search_only)
    assert not sku.tool_calls
    assert "get_product_by_sku" in sku.content and "not available" in sku.content
    search = _ask([HumanMessage(content=EXAMPLES[2])], tools=search_only)
    assert [c["name"] for c in search.tool_calls] == ["vector_search_products"]


def test_unbound_model_never_calls_tools() -> None:
    message = OfflineChatModel().invoke([HumanMessage(content=EXAMPLES[0])])
    assert not message.tool_calls
    assert "not available" in message.content


def test_bind_tools_accepts_langchain_tools() -> None:
    tools = _tools()
    message = OfflineChatModel().bind_tools(tools).invoke(EXAMPLES[0])
    assert message.tool_calls[0]["name"] == "get_product_by_sku"
    assert OfflineChatModel()._llm_type == "cosmic-works-offline"


def test_tool_call_ids_are_deterministic_and_turn_specific() -> None:
    question = [HumanMessage(content=EXAMPLES[0])]
    first, again = _ask(question), _ask(question)
    assert first.tool_calls == again.tool_calls
    later = _ask([*_turn("hi", "get_product_by_sku", FRAME_58), *question])
    assert later.tool_calls[0]["id"] != first.tool_calls[0]["id"]


# --- answers from tool JSON -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1431.5, "$1431.50"),
        (337.22, "$337.22"),
        (1234567.891, "$1234567.89"),
        (0, "$0.00"),
        ("4.5", "$4.50"),
    ],
)
def test_format_price(value: Any, expected: str) -> None:
    assert format_price(value) == expected


def test_sku_lookup_answer_states_the_price() -> None:
    answer = _answer(EXAMPLES[0], "get_product_by_sku", FRAME_58)
    assert answer == (
        "The HL Road Frame - Black, 58 (sku FR-R92B-58, Components, Road Frames) costs $1431.50."
    )


def test_sku_question_leads_with_the_matching_skus() -> None:
    answer = _answer(EXAMPLES[1], "vector_search_products", FRAMES)
    assert answer.startswith('Here are the skus of the products matching "HL Road Frame - Black":')
    assert "- FR-R92B-58: HL Road Frame - Black, 58 ($1431.50)" in answer
    assert "- FR-R92B-44: HL Road Frame - Black, 44 ($1431.50)" in answer
    assert "Red" not in answer and "LL Road Frame" not in answer


def test_what_is_question_describes_the_product() -> None:
    answer = _answer(EXAMPLES[2], "vector_search_products", FRAMES)
    assert "HL Road Frame - Black, 58 (sku FR-R92B-58) is in the Components, Road Frames" in answer
    assert "lightest and best quality aluminum frame" in answer
    assert "$1431.50" in answer
    assert "- HL Road Frame - Red, 58 (sku FR-R92R-58): $1431.50" in answer
    assert "LL Road Frame" not in answer


def test_several_hits_make_a_short_list() -> None:
    answer = _answer("Do you sell road frames?", "vector_search_products", FRAMES)
    lines = answer.splitlines()
    assert lines[0] == 'I found these products matching "road frames":'
    assert lines[1:] == [
        "- HL Road Frame - Black, 58 (sku FR-R92B-58): $1431.50",
        "- HL Road Frame - Black, 44 (sku FR-R92B-44): $1431.50",
        "- HL Road Frame - Red, 58 (sku FR-R92R-58): $1431.50",
        "- LL Road Frame - Black, 58 (sku FR-R38B-58): $337.22",
    ]


def test_search_with_one_matching_hit_answers_in_a_sentence() -> None:
    answer = _answer(
        "How much is the Sport-100 Helmet, Red?", "vector_search_products", [FRAME_58, HELMET]
    )
    assert answer == "The Sport-100 Helmet, Red (sku HL-U509-R, Accessories, Helmets) costs $34.99."


def test_search_without_a_match_says_so_and_shows_the_closest() -> None:
    answer = _answer("Do you sell unicorn saddles?", "vector_search_products", [HELMET])
    assert answer.startswith('I couldn\'t find a product matching "unicorn saddles" exactly.')
    assert "- Sport-100 Helmet, Red (sku HL-U509-R): $34.99" in answer


def test_empty_search_result() -> None:
    assert _answer("Do you sell helmets?", "vector_search_products", []) == (
        'I couldn\'t find any products matching "helmets".'
    )


def test_order_answer_sums_the_line_items() -> None:
    answer = _answer(f"Show order {GUID}", "get_sales_by_id", ORDER)
    assert answer.startswith(
        f"Order order-1 was placed on 2013-06-13 by customer {FRANKLIN_ID} "
        "and shipped on 2013-06-20."
    )
    assert "- 2 × Sport-100 Helmet, Red (HL-U509-R) at $34.99 each = $69.98" in answer
    assert "- 1 × HL Road Frame - Black, 58 (FR-R92B-58) at $1431.50" in answer
    assert answer.endswith("Total: $1501.48.")


def test_several_orders_are_listed_with_totals() -> None:
    answer = _answer("Show me recent sales orders", "vector_search_sales", [ORDER, ORDER_2])
    assert answer.startswith("I found these sales orders:")
    assert "Total $1501.48" in answer and "Total $14.97" in answer


def test_order_search_keeps_the_orders_with_the_sku() -> None:
    answer = _answer("Which orders contain FR-R92B-58?", "vector_search_sales", [ORDER_2, ORDER])
    assert answer.startswith("Order order-1 was placed on 2013-06-13")
    assert "Water Bottle" not in answer


def test_customer_answer() -> None:
    answer = _answer("Find the customer named Franklin Ye", "vector_search_customers", [FRANKLIN])
    assert answer == (
        f"Franklin Ye (customer id {FRANKLIN_ID}): email franklin9@adventure-works.com, "
        "phone 1 (11) 500 555-0139, lives in Seattle, US, 2 sales orders."
    )
    email = _answer("What is the email of Franklin Ye?", "vector_search_customers", [FRANKLIN])
    assert email == "Franklin Ye's email address is franklin9@adventure-works.com."


def test_not_found_is_relayed() -> None:
    payload = {
        "error": "not_found",
        "message": "No product has sku 'FR-XXXX-00'. Check the sku, or use vector_search_products.",
    }
    answer = _answer("price of FR-XXXX-00", "get_product_by_sku", payload)
    assert "No product has sku 'FR-XXXX-00'." in answer
    assert "check the sku" in answer.lower()
    assert "vector_search_products" not in answer and "{" not in answer


@pytest.mark.parametrize(
    ("content", "status"),
    [
        ("Error: StoreError('database is locked')\n Please fix your mistakes.", "error"),
        ('Traceback (most recent call last):\n  File "x.py"', "error"),
        ("Error invoking tool: boom", "success"),
        ("not json at all", "success"),
    ],
)
def test_tool_errors_become_a_plain_apology(content: str, status: str) -> None:
    answer = _answer(EXAMPLES[0], "get_product_by_sku", content, status=status)
    assert answer.startswith("Sorry, the product lookup failed")
    for leak in ("Traceback", "StoreError", "locked", "boom", "json"):
        assert leak not in answer


# --- follow-ups -------------------------------------------------------------------------------


def _after_frame() -> list[BaseMessage]:
    return [
        *_turn(EXAMPLES[0], "get_product_by_sku", FRAME_58),
        AIMessage(content="The HL Road Frame - Black, 58 ... costs $1431.50."),
    ]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("and its price?", "costs $1431.50"),
        ("how much is it?", "costs $1431.50"),
        ("what category is it in?", "is in the Components, Road Frames category"),
        ("what is its sku?", "The sku of the HL Road Frame - Black, 58 is FR-R92B-58"),
        ("tell me more about it", "lightest and best quality"),
    ],
)
def test_product_follow_ups_use_the_earlier_result(question: str, expected: str) -> None:
    message = _ask([*_after_frame(), HumanMessage(content=question)])
    assert not message.tool_calls
    assert expected in message.content


def test_follow_up_about_an_earlier_list() -> None:
    history = [
        *_turn(EXAMPLES[1], "vector_search_products", FRAMES),
        AIMessage(content="Here are the skus..."),
        HumanMessage(content="how much are they?"),
    ]
    message = _ask(history)
    assert message.text.startswith("All of them cost $1431.50:")
    assert "LL Road Frame" not in message.content


def test_follow_up_without_history_asks_which_product() -> None:
    message = _ask([HumanMessage(content="how much is it?")])
    assert not message.tool_calls
    assert "not sure which product" in message.content


def test_what_did_they_order_searches_the_customers_orders() -> None:
    history = [
        *_turn("Find the customer named Franklin Ye", "vector_search_customers", [FRANKLIN]),
        AIMessage(content="Franklin Ye ..."),
        HumanMessage(content="what did they order?"),
    ]
    message = _ask(history)
    (call,) = message.tool_calls
    assert call["name"] == "vector_search_sales"
    assert call["args"]["customer_id"] == FRANKLIN_ID
    reply = _ask([*history, message, ToolMessage(json.dumps([ORDER]), tool_call_id=call["id"])])
    assert reply.text.startswith("Franklin Ye has one sales order:")
    assert "Total: $1501.48." in reply.content


def test_what_did_they_order_after_an_order_lookup() -> None:
    history = [
        *_turn(f"Show order {GUID}", "get_sales_by_id", ORDER),
        AIMessage(content="Order order-1 ..."),
        HumanMessage(content="what else did they order?"),
    ]
    (call,) = _ask(history).tool_calls
    assert call["name"] == "vector_search_sales"
    assert call["args"]["customer_id"] == FRANKLIN_ID


def test_customer_follow_up_fields() -> None:
    history = [
        *_turn("Find the customer named Franklin Ye", "vector_search_customers", [FRANKLIN]),
        AIMessage(content="Franklin Ye ..."),
        HumanMessage(content="what is their phone number?"),
    ]
    assert _ask(history).content == "Franklin Ye's phone number is 1 (11) 500 555-0139."


def test_customer_orders_chain_two_tools_in_one_turn() -> None:
    turn = _turn("What did Franklin Ye order?", "vector_search_customers", [FRANKLIN])
    message = _ask(turn)
    (call,) = message.tool_calls
    assert call["name"] == "vector_search_sales"
    assert call["args"]["customer_id"] == FRANKLIN_ID
    answer = _ask(
        [*turn, message, ToolMessage(json.dumps([ORDER, ORDER_2]), tool_call_id=call["id"])]
    )
    assert answer.text.startswith("Franklin Ye has 2 sales orders:")
    assert "Total $1501.48" in answer.content and "Total $14.97" in answer.content


def test_customer_orders_need_a_customer_with_that_name() -> None:
    turn = _turn("What did Zorro Vega order?", "vector_search_customers", [FRANKLIN])
    message = _ask(turn)
    assert not message.tool_calls
    assert message.text == 'I couldn\'t find a customer matching "Zorro Vega".'


# --- streaming --------------------------------------------------------------------------------


STREAMED = [
    [HumanMessage(content="hi")],
    [HumanMessage(content="asdf qwer")],
    _turn(EXAMPLES[0], "get_product_by_sku", FRAME_58),
    _turn(EXAMPLES[1], "vector_search_products", FRAMES),
    _turn(f"Show order {GUID}", "get_sales_by_id", ORDER),
]


@pytest.mark.parametrize("messages", STREAMED)
def test_stream_concatenates_to_the_invoke_result(messages: list[BaseMessage]) -> None:
    model = _model()
    chunks = list(model.stream(messages))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    text_chunks = [c for c in chunks if c.content]
    assert len(text_chunks) > 1
    assert "".join(str(c.content) for c in chunks) == model.invoke(messages).content


@pytest.mark.parametrize("messages", STREAMED)
async def test_astream_concatenates_to_the_ainvoke_result(messages: list[BaseMessage]) -> None:
    model = _model()
    chunks = [c async for c in model.astream(messages)]
    assert len([c for c in chunks if c.content]) > 1
    assert "".join(str(c.content) for c in chunks) == (await model.ainvoke(messages)).content


async def test_tool_call_streams_as_one_chunk() -> None:
    model = _model()
    messages = [HumanMessage(content=EXAMPLES[0])]
    chunks = [c async for c in model.astream(messages)]
    with_calls = [c for c in chunks if c.tool_call_chunks]
    assert len(with_calls) == 1
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.tool_calls == (await model.ainvoke(messages)).tool_calls


# --- end to end through the graph -------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class FakeStore:
    """The store methods the tools call, over a few documents, with keyword-overlap search."""

    def __init__(self) -> None:
        self.products = [
            Product.model_validate({**p, "tags": [{"name": t} for t in p["tags"]]})
            for p in [*FRAMES, HELMET]
        ]
        self.customers = [Customer.model_validate(FRANKLIN)]
        self.sales = [SalesOrder.model_validate(ORDER), SalesOrder.model_validate(ORDER_2)]

    async def get_product_by_id(self, product_id: str) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)

    async def get_product_by_sku(self, sku: str) -> Product | None:
        return next((p for p in self.products if p.sku.lower() == sku.lower()), None)

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        return next((c for c in self.customers if customer_id in (c.id, c.customerId)), None)

    async def get_sales_order_by_id(self, order_id: str) -> SalesOrder | None:
        return next((o for o in self.sales if o.id == order_id), None)

    async def vector_search(
        self, collection: str, query: str, k: int = 3, filter: SearchFilter | None = None
    ) -> list[SearchHit]:
        documents: list[_Document] = {
            "products": self.products,
            "customers": self.customers,
            "sales": self.sales,
        }[collection]  # type: ignore[assignment]
        wanted = _words(query)
        hits = []
        for doc in documents:
            data = doc.public_dict()
            if filter and any(str(data.get(key)) != value for key, value in filter.items()):
                continue
            overlap = len(wanted & _words(json.dumps(data)))
            hits.append(SearchHit(doc, overlap / (len(wanted) or 1)))
        hits.sort(key=lambda hit: -hit.score)
        return hits[:k]

    async def hybrid_search_products(
        self, query: str, k: int = 3, filter: SearchFilter | None = None
    ) -> list[SearchHit]:
        return await self.vector_search("products", query, k, filter)


def _tools() -> list[BaseTool]:
    # FakeStore has only what the tools call, not the loader's half of the protocol.
    return build_tools(cast(CatalogStore, FakeStore()))


@pytest.fixture
def tools() -> list[BaseTool]:
    return _tools()


def _config(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


async def test_acceptance_question_through_the_graph(tools: list[BaseTool]) -> None:
    graph = build_graph(OfflineChatModel(), tools, InMemorySaver())
    question = "What was the price of the product with sku `FR-R92B-58`"
    state = await graph.ainvoke({"messages": [HumanMessage(content=question)]}, _config("t1"))
    messages: list[AnyMessage] = state["messages"]
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert "$1431.50" in final.content
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_messages] == ["get_product_by_sku"]
    assert json.loads(str(tool_messages[0].content))["price"] == 1431.5

    # The checkpointer keeps the conversation: a follow-up is answered from it.
    state = await graph.ainvoke(
        {"messages": [HumanMessage(content="what category is it in?")]}, _config("t1")
    )
    assert "Components, Road Frames" in state["messages"][-1].content


async def test_graph_streams_tokens(tools: list[BaseTool]) -> None:
    graph = build_graph(OfflineChatModel(), tools, InMemorySaver())
    question = {"messages": [HumanMessage(content=EXAMPLES[2])]}
    tokens = [
        chunk.content
        async for chunk, _ in graph.astream(question, _config("t2"), stream_mode="messages")
        if isinstance(chunk, AIMessageChunk) and chunk.content
    ]
    assert len(tokens) > 1
    state = await graph.aget_state(_config("t2"))
    assert "".join(str(t) for t in tokens) == state.values["messages"][-1].content
    assert "HL Road Frame" in state.values["messages"][-1].content


async def test_graph_stream_events_show_tokens(tools: list[BaseTool]) -> None:
    graph = build_graph(OfflineChatModel(), tools, InMemorySaver())
    question = {"messages": [HumanMessage(content=EXAMPLES[0])]}
    tokens = [
        event["data"]["chunk"].content
        async for event in graph.astream_events(question, _config("t5"), version="v2")
        if event["event"] == "on_chat_model_stream" and event["data"]["chunk"].content
    ]
    assert len(tokens) > 1
    assert "".join(tokens).endswith("costs $1431.50.")


async def test_graph_customer_orders_chain(tools: list[BaseTool]) -> None:
    graph = build_graph(OfflineChatModel(), tools, InMemorySaver())
    state = await graph.ainvoke(
        {"messages": [HumanMessage(content="What did Franklin Ye order?")]}, _config("t3")
    )
    names = [m.name for m in state["messages"] if isinstance(m, ToolMessage)]
    assert names == ["vector_search_customers", "vector_search_sales"]
    answer = state["messages"][-1].content
    assert answer.startswith("Franklin Ye has 2 sales orders:")
    assert "$1501.48" in answer


async def test_graph_not_found_sku(tools: list[BaseTool]) -> None:
    graph = build_graph(OfflineChatModel(), tools, InMemorySaver())
    state = await graph.ainvoke(
        {"messages": [HumanMessage(content="What is the price of FR-Z99Z-00?")]}, _config("t4")
    )
    answer = state["messages"][-1].content
    assert "No product has sku 'FR-Z99Z-00'." in answer
