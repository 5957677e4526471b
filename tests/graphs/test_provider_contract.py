"""Contract tests over HTTP: the real agent graph, the real provider clients, a scripted server.

The model comes from `build_chat_model(settings)` pointed at `OpenAIStub` through the same
environment variables a deployment uses (OPENAI_BASE_URL / AZURE_OPENAI_ENDPOINT), so these
tests cover the request shape (paths, api-version, auth headers, tool schemas, tool results),
tool-call round trips, token streaming, retries and timeouts of both providers.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from catalog.models import Customer, Product, SalesOrder
from catalog.store import SearchHit
from core.settings import Settings
from graphs.chat_models import build_chat_model, classify_model_error
from graphs.graph import build_graph
from tests.graphs.openai_stub import (
    STUB_SKU,
    STUB_TOOL_CALL_ID,
    STUB_TOOL_NAME,
    Failure,
    OpenAIStub,
    clean_model_env,
    final_answer,
)
from tools.catalog_tools import build_tools

STUB_KEY = "stub-secret-key-42"
QUESTION = "What was the price of the product with sku `FR-R92B-58`?"
FRAME = Product(
    id="027D0B9A-F9D9-4C96-8213-C8546C4AAE71",
    categoryId="C7324EF3-D951-45D9-A345-A82EAE344394",
    categoryName="Components, Road Frames",
    sku=STUB_SKU,
    name="HL Road Frame - Black, 58",
    description="Our lightest and best quality aluminum frame made from the newest alloy.",
    price=1431.5,
    tags=[{"id": "1", "name": "Road"}],  # type: ignore[list-item]
)
EXPECTED_ANSWER = "The HL Road Frame - Black, 58 costs $1431.50 (stub)."
PROVIDERS = ["openai", "azure_openai"]


class FakeStore:
    """Just what the tools call; one product."""

    async def get_product_by_id(self, product_id: str) -> Product | None:
        return FRAME if product_id == FRAME.id else None

    async def get_product_by_sku(self, sku: str) -> Product | None:
        return FRAME if sku.upper() == STUB_SKU else None

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        return None

    async def get_sales_order_by_id(self, order_id: str) -> SalesOrder | None:
        return None

    async def vector_search(self, collection: str, query: str, k: int = 3, filter: Any = None):
        return list[SearchHit]()

    async def hybrid_search_products(self, query: str, k: int = 3, filter: Any = None):
        return list[SearchHit]()


@pytest.fixture(scope="module")
def _server() -> Iterator[OpenAIStub]:
    with OpenAIStub(api_key=STUB_KEY) as server:
        yield server


@pytest.fixture
def stub(_server: OpenAIStub, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    clean_model_env(monkeypatch)
    _server.reset()
    yield _server
    _server.reset()


def provider_settings(
    monkeypatch: pytest.MonkeyPatch, stub: OpenAIStub, provider: str, **overrides: Any
) -> Settings:
    """Settings as a deployment would have them: provider chosen by its env variables."""
    if provider == "openai":
        monkeypatch.setenv("OPENAI_BASE_URL", stub.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", STUB_KEY)
        monkeypatch.setenv("OPENAI_MODEL", "stub-gpt")
    else:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", stub.azure_endpoint)
        monkeypatch.setenv("AOAI_KEY", STUB_KEY)
    overrides.setdefault("model_timeout_s", 10.0)
    overrides.setdefault("model_max_retries", 2)
    settings = Settings(_env_file=None, **overrides)  # type: ignore[call-arg]
    assert settings.resolved_model == provider
    return settings


def agent(settings: Settings) -> Any:
    return build_graph(build_chat_model(settings), build_tools(FakeStore()), InMemorySaver())


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


def _tool_message(messages: list[Any]) -> ToolMessage:
    found = [m for m in messages if isinstance(m, ToolMessage) and m.name == STUB_TOOL_NAME]
    assert len(found) == 1, messages
    return found[0]


def assert_round_trip(messages: list[Any]) -> None:
    """Question → tool call for the sku → tool result with the price → the stub's answer."""
    assert isinstance(messages[0], HumanMessage)
    call = messages[1]
    assert isinstance(call, AIMessage)
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [
        (STUB_TOOL_NAME, {"sku": STUB_SKU})
    ]
    result = _tool_message(messages)
    assert result.tool_call_id == STUB_TOOL_CALL_ID
    data = json.loads(str(result.content))
    assert data["sku"] == STUB_SKU and data["price"] == 1431.5
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert final.content == EXPECTED_ANSWER == final_answer(str(result.content))


def assert_wire_format(stub: OpenAIStub, provider: str, settings: Settings) -> None:
    requests = stub.chat_requests()
    assert [r.outcome for r in requests] == ["tool_call", "answer"]
    first, second = requests
    for request in requests:
        assert request.credential_ok
        assert STUB_KEY not in json.dumps(request.headers)
        if provider == "azure_openai":
            assert request.form == "azure"
            assert request.path == "/openai/deployments/completions/chat/completions"
            assert request.deployment == settings.azure_openai_chat_deployment
            assert request.query["api-version"] == settings.openai_api_version
            assert request.credential == "api-key" and request.headers["api-key"] == "***"
            assert "authorization" not in request.headers
        else:
            assert request.form == "openai"
            assert request.path == "/v1/chat/completions"
            assert request.body["model"] == "stub-gpt"
            assert request.credential == "bearer"
            assert request.headers["authorization"] == "Bearer ***"
            assert "api-key" not in request.headers
        assert request.messages[0]["role"] == "system"
        tool_names = {t["function"]["name"] for t in request.body["tools"]}
        assert STUB_TOOL_NAME in tool_names and "vector_search_products" in tool_names
    assert first.tool_messages() == []
    assert first.messages[-1] == {"role": "user", "content": QUESTION}
    (tool_result,) = second.tool_messages()
    assert tool_result["tool_call_id"] == STUB_TOOL_CALL_ID
    assert json.loads(tool_result["content"])["price"] == 1431.5
    assistant = [m for m in second.messages if m["role"] == "assistant"]
    assert assistant[-1]["tool_calls"][0]["function"]["name"] == STUB_TOOL_NAME


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_invoke_round_trip(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    settings = provider_settings(monkeypatch, stub, provider)
    graph = agent(settings)
    state = await graph.ainvoke({"messages": [HumanMessage(QUESTION)]}, thread())
    assert_round_trip(state["messages"])
    assert_wire_format(stub, provider, settings)
    assert not any(r.stream for r in stub.chat_requests())


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_events_yield_tokens(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    settings = provider_settings(monkeypatch, stub, provider)
    graph = agent(settings)
    config = thread()
    tokens: list[str] = []
    async for event in graph.astream_events(
        {"messages": [HumanMessage(QUESTION)]}, config, version="v2"
    ):
        if event["event"] == "on_chat_model_stream":
            content = event["data"]["chunk"].content
            if isinstance(content, str) and content:
                tokens.append(content)
    assert len(tokens) >= 5
    assert "".join(tokens) == EXPECTED_ANSWER
    requests = stub.chat_requests()
    assert [r.stream for r in requests] == [True, True]
    # The streamed tool call (arguments split over chunks) was reassembled and executed.
    state = await graph.aget_state(config)
    assert_round_trip(state.values["messages"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_mode_messages(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    graph = agent(provider_settings(monkeypatch, stub, provider))
    tokens = [
        chunk.content
        async for chunk, meta in graph.astream(
            {"messages": [HumanMessage(QUESTION)]}, thread(), stream_mode="messages"
        )
        if meta.get("langgraph_node") == "agent"
        and isinstance(chunk.content, str)
        and chunk.content
    ]
    assert len(tokens) >= 5
    assert "".join(tokens) == EXPECTED_ANSWER


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limit_is_retried(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    graph = agent(provider_settings(monkeypatch, stub, provider))
    stub.fail_next(Failure.rate_limit())
    started = time.monotonic()
    state = await graph.ainvoke({"messages": [HumanMessage(QUESTION)]}, thread())
    assert time.monotonic() - started < 3
    assert_round_trip(state["messages"])
    requests = stub.chat_requests()
    assert [r.outcome for r in requests] == ["status:429", "tool_call", "answer"]
    assert requests[0].body == requests[1].body  # the same step, sent twice


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limit_without_retries_is_classified(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    graph = agent(provider_settings(monkeypatch, stub, provider, model_max_retries=0))
    stub.fail_next(Failure.rate_limit())
    with pytest.raises(Exception) as info:
        await graph.ainvoke({"messages": [HumanMessage(QUESTION)]}, thread())
    mapped = classify_model_error(info.value)
    assert mapped is not None and mapped[:2] == (503, "model_rate_limited")
    assert len(stub.chat_requests()) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_hang_times_out_as_504(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    settings = provider_settings(
        monkeypatch, stub, provider, model_timeout_s=1.0, model_max_retries=0
    )
    graph = agent(settings)
    stub.fail_next(Failure.hang(seconds=15))
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        await graph.ainvoke({"messages": [HumanMessage(QUESTION)]}, thread())
    elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    mapped = classify_model_error(info.value)
    assert mapped is not None
    status, code, message = mapped
    assert (status, code) == (504, "model_timeout")
    assert "1 s" in message
    assert ("Azure OpenAI" in message) == (provider == "azure_openai")
    assert STUB_KEY not in message
    assert [r.outcome for r in stub.chat_requests()] == ["hang"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_wrong_key_is_an_auth_failure(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    settings = provider_settings(monkeypatch, stub, provider)
    wrong = settings.model_copy(
        update={
            "openai_api_key": type(settings.openai_api_key)("wrong-key")
            if settings.openai_api_key
            else None,
            "azure_openai_api_key": type(settings.azure_openai_api_key)("wrong-key")
            if settings.azure_openai_api_key
            else None,
        }
    )
    graph = agent(wrong)
    with pytest.raises(Exception) as info:
        await graph.ainvoke({"messages": [HumanMessage(QUESTION)]}, thread())
    mapped = classify_model_error(info.value)
    assert mapped is not None
    assert mapped[:2] == (502, "model_auth_failed")
    assert "wrong-key" not in mapped[2]
    assert [r.outcome for r in stub.chat_requests()] == ["401"]
