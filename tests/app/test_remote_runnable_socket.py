"""`RemoteRunnable` against a real uvicorn process on a socket (the in-process contract tests
are in `test_langserve.py`).

The server runs as `python -m uvicorn --factory app.main:create_app` in a subprocess whose
environment points `COSMIC_WORKS_DATA_DIR` at a temporary copy of the loaded sample catalog and
selects the offline model, so nothing but the loopback interface is used.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableConfig
from langserve import RemoteRunnable

from tests.server_process import uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"
PRICE = "$1431.50"


@pytest.fixture(scope="module")
def server_url(
    tmp_path_factory: pytest.TempPathFactory, sample_catalog_file: Path
) -> Iterator[str]:
    """A uvicorn subprocess serving the app on a free loopback port; stopped afterwards."""
    data_dir = tmp_path_factory.mktemp("socket-server")
    shutil.copy(sample_catalog_file, data_dir / "catalog.sqlite")
    with uvicorn_server(data_dir) as base_url:
        yield base_url


@pytest.fixture
def remote(server_url: str) -> Iterator[RemoteRunnable[Any, Any]]:
    runnable: RemoteRunnable[Any, Any] = RemoteRunnable(f"{server_url}/agent/", timeout=120.0)
    yield runnable
    runnable.sync_client.close()


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def _humans(output: dict[str, Any]) -> list[str]:
    return [m.text for m in output["messages"] if isinstance(m, HumanMessage)]


def test_invoke_twice_on_one_thread(remote: RemoteRunnable[Any, Any]) -> None:
    first = remote.invoke({"messages": [HumanMessage(content=ACCEPTANCE)]}, _config("sock-1"))
    answer = first["messages"][-1]
    assert isinstance(answer, AIMessage) and PRICE in answer.text

    second = remote.invoke(
        {"messages": [HumanMessage(content="what category is it in?")]}, _config("sock-1")
    )
    assert _humans(second) == [ACCEPTANCE, "what category is it in?"]
    assert "Components, Road Frames" in second["messages"][-1].text


def test_stream_yields_state_updates(remote: RemoteRunnable[Any, Any]) -> None:
    chunks = list(
        remote.stream({"messages": [HumanMessage(content=ACCEPTANCE)]}, _config("sock-stream"))
    )
    assert [next(iter(chunk)) for chunk in chunks] == ["agent", "tools", "agent"]
    assert PRICE in chunks[-1]["agent"]["messages"][-1].text


async def test_astream_events_carry_tokens(remote: RemoteRunnable[Any, Any]) -> None:
    try:
        tokens = [
            event["data"]["chunk"]
            async for event in remote.astream_events(
                {"messages": [HumanMessage(content=ACCEPTANCE)]},
                _config("sock-events"),
                version="v2",
            )
            if event["event"] == "on_chat_model_stream"
        ]
    finally:
        await remote.async_client.aclose()
    assert len(tokens) > 3 and all(isinstance(token, AIMessageChunk) for token in tokens)
    assert PRICE in "".join(token.text for token in tokens)


def test_batch_on_two_threads(remote: RemoteRunnable[Any, Any]) -> None:
    questions = [ACCEPTANCE, "What is the SKU of HL Road Frame - Black?"]
    outputs = remote.batch(
        [{"messages": [HumanMessage(content=q)]} for q in questions],
        # One config per input: RemoteRunnable accepts a list although its type says one.
        [_config("sock-batch-a"), _config("sock-batch-b")],  # type: ignore[arg-type]
    )
    assert [_humans(output) for output in outputs] == [[q] for q in questions]
    assert PRICE in outputs[0]["messages"][-1].text
    # Each thread kept its own turn: a follow-up on thread b sees only b's question.
    followup = remote.invoke({"messages": [HumanMessage(content="hello")]}, _config("sock-batch-b"))
    assert _humans(followup) == [questions[1], "hello"]


def test_errors_keep_our_shape_over_the_socket(server_url: str) -> None:
    response = httpx.post(
        f"{server_url}/agent/invoke",
        json={"input": {"messages": [{"role": "user", "content": "hi"}]}},
        timeout=30.0,
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
