"""The offline agent end to end over the real sample catalog (SQLite store, local embeddings):
the acceptance question and the original frontend's examples, customers and orders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from catalog.loader import SAMPLE_CUSTOMERS, sample_path
from catalog.sqlite_store import SqliteCatalogStore, open_sqlite_store
from graphs.graph import build_graph
from graphs.offline_model import OfflineChatModel
from tools import build_tools

pytestmark = pytest.mark.timeout(900)

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`"


@pytest.fixture
async def store(
    sample_store_path: Path, local_embeddings: Any
) -> AsyncIterator[SqliteCatalogStore]:
    s = await open_sqlite_store(sample_store_path, local_embeddings)
    try:
        yield s
    finally:
        await s.aclose()


async def _ask(graph: Any, question: str, thread: str = "t") -> dict[str, Any]:
    return await graph.ainvoke(
        {"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": thread}}
    )


def _tools_called(state: dict[str, Any]) -> list[str]:
    return [m.name for m in state["messages"] if isinstance(m, ToolMessage)]


@pytest.fixture
def graph(store: SqliteCatalogStore) -> Any:
    return build_graph(OfflineChatModel(), build_tools(store), InMemorySaver())


async def test_acceptance_question(graph: Any) -> None:
    state = await _ask(graph, ACCEPTANCE)
    assert "$1431.50" in state["messages"][-1].text
    assert _tools_called(state) == ["get_product_by_sku"]


async def test_frontend_examples(graph: Any) -> None:
    state = await _ask(graph, "What is the SKU of HL Road Frame - Black?", "a")
    answer = state["messages"][-1].text
    for sku in ("FR-R92B-44", "FR-R92B-48", "FR-R92B-58", "FR-R92B-62"):
        assert sku in answer
    assert "FR-R92R" not in answer

    state = await _ask(graph, "What is HL Road Frame?", "b")
    answer = state["messages"][-1].text
    assert "HL Road Frame" in answer and "$1431.50" in answer


async def test_follow_up_uses_the_earlier_turn(graph: Any) -> None:
    await _ask(graph, "Tell me about FR-R92R-56", "f")
    state = await _ask(graph, "and its price?", "f")
    assert "$1431.50" in state["messages"][-1].text
    assert "Red, 56" in state["messages"][-1].text


def _first_customer_with_orders() -> dict[str, Any]:
    raw = json.loads(sample_path(SAMPLE_CUSTOMERS).read_text(encoding="utf-8-sig"))
    return next(d for d in raw if d.get("type") == "customer" and d["salesOrderCount"] >= 2)


async def test_customer_and_order_questions(graph: Any) -> None:
    customer = _first_customer_with_orders()
    name = f"{customer['firstName']} {customer['lastName']}"
    state = await _ask(graph, f"What is the email address of customer {name}?", "c")
    assert customer["emailAddress"] in state["messages"][-1].text
    assert _tools_called(state) == ["vector_search_customers"]

    state = await _ask(graph, "What did they order?", "c")
    assert "vector_search_sales" in _tools_called(state)
    assert "$" in state["messages"][-1].text
    for message in state["messages"]:
        assert "salt" not in message.text and "hash" not in message.text


async def test_paraphrase_finds_helmets(graph: Any) -> None:
    state = await _ask(graph, "Do you sell something to keep my head safe?", "h")
    assert "Helmet" in state["messages"][-1].text


@pytest.mark.slow
def test_cli_ask_prints_the_price(sample_store_path: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "catalog.sqlite").write_bytes(sample_store_path.read_bytes())
    env = {
        **os.environ,
        "COSMIC_WORKS_DATA_DIR": str(data_dir),
        "COSMIC_WORKS_MODEL": "offline",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", ACCEPTANCE],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "$1431.50" in result.stdout
    assert "--session" in result.stderr
