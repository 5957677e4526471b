"""The OpenAI-compatible API (`/v1/models`, `/v1/chat/completions`).

* the official `openai` client against a real uvicorn: a completion, a stream, two-turn memory
  without duplicated turns, the model list, errors raised as the SDK's exceptions;
* in-process: the reconciliation rules (`app.openai_messages`), `X-Session-Id`, OpenAI error
  shapes scoped to `/v1`, auth, rollback of a failed streamed turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from langchain_core.messages import AIMessage
from pydantic import SecretStr

from app.main import create_app
from app.openai_messages import (
    MODEL_ID,
    Conversation,
    OpenAIRequestError,
    parse_conversation,
    reconcile,
)
from core.settings import Settings
from tests.fakes import ScriptedChatModel, echo_responder
from tests.server_process import uvicorn_server

pytestmark = pytest.mark.timeout(900)  # the first run on a machine builds the sample catalog

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"
FOLLOW_UP = "What is its category?"


def user(text: str) -> Any:
    return {"role": "user", "content": text}


def assistant(text: str) -> Any:
    return {"role": "assistant", "content": text}


# --------------------------------------------------------------------------------------------
# The official client against a real server
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_store_path: Path) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("openai-server")
    (data_dir / "catalog.sqlite").write_bytes(sample_store_path.read_bytes())
    with uvicorn_server(data_dir) as base_url:
        yield base_url


@pytest.fixture
def oai(server: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(
        base_url=f"{server}/v1", api_key="not-needed", max_retries=0, timeout=120
    )
    try:
        yield client
    finally:
        client.close()


def stored_history(server: str, session_id: str) -> list[dict[str, str]]:
    response = httpx.get(f"{server}/session/load/{session_id}", timeout=30)
    assert response.status_code == 200, response.text
    history: list[dict[str, str]] = response.json()["history"]
    return history


@pytest.mark.slow
def test_sdk_completion_answers_the_acceptance_question(oai: openai.OpenAI, server: str) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model=MODEL_ID,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},  # ignored
            {"role": "user", "content": ACCEPTANCE},
        ],
    )
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.model == MODEL_ID
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "$1431.50" in (choice.message.content or "")
    session_id = raw.headers["X-Session-Id"]
    assert stored_history(server, session_id) == [
        {"role": "user", "content": ACCEPTANCE},
        {"role": "assistant", "content": choice.message.content},
    ]


@pytest.mark.slow
def test_sdk_stream_concatenates_to_the_stored_answer(oai: openai.OpenAI, server: str) -> None:
    with oai.chat.completions.with_streaming_response.create(
        model=MODEL_ID, messages=[user(ACCEPTANCE)], stream=True
    ) as response:
        session_id = response.headers["X-Session-Id"]
        chunks: list[Any] = list(response.parse())
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL_ID for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len([c for c in chunks if c.choices[0].delta.content]) > 1  # token by token
    assert "$1431.50" in text
    assert stored_history(server, session_id)[-1] == {"role": "assistant", "content": text}


@pytest.mark.slow
def test_sdk_two_turn_memory_without_duplicates(oai: openai.OpenAI, server: str) -> None:
    messages: list[Any] = [user(ACCEPTANCE)]
    first = oai.chat.completions.with_raw_response.create(model=MODEL_ID, messages=messages)
    session_id = first.headers["X-Session-Id"]
    messages += [assistant(first.parse().choices[0].message.content or ""), user(FOLLOW_UP)]

    # An OpenAI client resends the whole conversation; the session already holds turn one.
    second = oai.chat.completions.with_raw_response.create(
        model=MODEL_ID, messages=messages, extra_headers={"X-Session-Id": session_id}
    )
    assert second.headers["X-Session-Id"] == session_id
    answer = second.parse().choices[0].message.content or ""
    assert "Components, Road Frames" in answer and "FR-R92B-58" in answer  # "its" = turn one

    history = stored_history(server, session_id)
    assert [item["role"] for item in history] == ["user", "assistant"] * 2  # exactly 2 turns
    assert [item["content"] for item in history[::2]] == [ACCEPTANCE, FOLLOW_UP]


@pytest.mark.slow
def test_sdk_lists_the_model(oai: openai.OpenAI) -> None:
    models = oai.models.list()
    assert [m.id for m in models.data] == [MODEL_ID]
    assert models.data[0].object == "model" and models.data[0].owned_by
    assert oai.models.retrieve(MODEL_ID).id == MODEL_ID
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("gpt-4o")


@pytest.mark.slow
def test_sdk_raises_our_errors(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        oai.chat.completions.create(model=MODEL_ID, messages=[assistant("Hello!")])
    assert "at least one user message" in bad.value.message
    assert bad.value.code == "invalid_request" and bad.value.param == "messages"
    assert bad.value.type == "invalid_request_error"

    with pytest.raises(openai.BadRequestError) as tools:
        oai.chat.completions.create(
            model=MODEL_ID,
            messages=[user("hi")],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    assert tools.value.param == "tools"

    with pytest.raises(openai.NotFoundError) as model:
        oai.chat.completions.create(model="gpt-4o", messages=[user("hi")])
    assert model.value.code == "model_not_found"

    with pytest.raises(openai.BadRequestError) as header:
        oai.chat.completions.create(
            model=MODEL_ID, messages=[user("hi")], extra_headers={"X-Session-Id": "bad id!"}
        )
    assert header.value.param == "X-Session-Id"


# --------------------------------------------------------------------------------------------
# Reconciliation rules (pure)
# --------------------------------------------------------------------------------------------


def test_parse_ignores_system_messages_and_joins_runs() -> None:
    conversation = parse_conversation(
        [
            {"role": "system", "content": "Be terse."},
            assistant("Hi! How can I help?"),  # a UI greeting before the first question
            user("q1"),
            {"role": "developer", "content": "ignored too"},
            assistant("a1"),
            user("q2 part one"),
            {"role": "user", "content": [{"type": "text", "text": "q2 part two"}]},
        ],
        4000,
    )
    assert conversation == Conversation(
        history=({"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}),
        prompt="q2 part one\n\nq2 part two",
    )


@pytest.mark.parametrize(
    ("messages", "param", "fragment"),
    [
        ([assistant("a")], "messages", "at least one user message"),
        ([user("q"), assistant("a")], "messages", "last message must be the user's"),
        ([{"role": "system", "content": "s"}], "messages", "at least one user message"),
        ([user("   ")], "messages[0]", "cannot be empty"),
        ([{"role": "robot", "content": "x"}], "messages[0].role", "must be"),
        ([user("q"), {"role": "tool", "content": "{}", "tool_call_id": "c"}], "messages[1]",
         "tool"),
        ([{"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}, user("q")],
         "messages[0]", "tool"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
         "messages[0].content[0]", "only text"),
        ([{"role": "user"}], "messages[0].content", "required"),
        (["hello"], "messages[0]", "must be an object"),
        ([user("x" * 11)], "messages[0].content", "at most 10"),
    ],
)  # fmt: skip
def test_parse_refuses_with_the_field(messages: list[Any], param: str, fragment: str) -> None:
    with pytest.raises(OpenAIRequestError) as raised:
        parse_conversation(messages, 10)
    assert raised.value.status == 400
    assert raised.value.param == param
    assert fragment in raised.value.message


STORED = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]


def test_reconcile_takes_only_what_the_thread_lacks() -> None:
    resent = parse_conversation([user("q1"), assistant(" a1\n"), user("q2")], 4000)
    assert reconcile(resent, STORED, "s") == []  # as stored (whitespace aside): nothing to add
    only_new = parse_conversation([user("q2")], 4000)
    assert reconcile(only_new, STORED, "s") == []  # memory comes from the session
    longer = parse_conversation(
        [user("q1"), assistant("a1"), user("q2"), assistant("a2"), user("q3")], 4000
    )
    added = reconcile(longer, STORED, "s")
    assert [(m.type, m.text) for m in added] == [("human", "q2"), ("ai", "a2")]
    assert [m.type for m in reconcile(longer, [], "s")] == ["human", "ai", "human", "ai"]


@pytest.mark.parametrize(
    "messages",
    [
        [user("q1 edited"), assistant("a1"), user("q2")],  # an earlier turn changed
        [user("q1"), assistant("another answer"), user("q2")],  # a regenerated answer
    ],
)
def test_reconcile_refuses_a_contradicting_history(messages: list[Any]) -> None:
    with pytest.raises(OpenAIRequestError) as raised:
        reconcile(parse_conversation(messages, 4000), STORED, "s1")
    assert raised.value.status == 409 and raised.value.code == "session_conflict"


def test_reconcile_refuses_a_shorter_history() -> None:
    stored = [*STORED, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]
    conversation = parse_conversation([user("q1"), assistant("a1"), user("q2 again")], 4000)
    with pytest.raises(OpenAIRequestError) as raised:
        reconcile(conversation, stored, "s1")
    assert raised.value.status == 409
    assert "holds 2 earlier turn(s) (the client sent 1)" in raised.value.message


# --------------------------------------------------------------------------------------------
# In-process HTTP
# --------------------------------------------------------------------------------------------


async def complete(client: httpx.AsyncClient, messages: list[Any], **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", None)
    body = {"model": MODEL_ID, "messages": messages, **kwargs}
    return await client.post("/v1/chat/completions", json=body, headers=headers)


def answer_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


async def history(client: httpx.AsyncClient, session_id: str) -> list[dict[str, str]]:
    response = await client.get(f"/session/load/{session_id}")
    assert response.status_code == 200, response.text
    items: list[dict[str, str]] = response.json()["history"]
    return items


def sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


async def test_models_list_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert body["data"] == [
        {"id": MODEL_ID, "object": "model", "created": body["data"][0]["created"],
         "owned_by": "cosmic-works"}
    ]  # fmt: skip


async def test_new_session_id_comes_back_and_continues(client: httpx.AsyncClient) -> None:
    first = await complete(client, [user(ACCEPTANCE)])
    session_id = first.headers["X-Session-Id"]
    assert "$1431.50" in answer_of(first)
    # A client that keeps the id may send only the new message: memory is the session's.
    second = await complete(client, [user(FOLLOW_UP)], headers={"X-Session-Id": session_id})
    assert second.headers["X-Session-Id"] == session_id
    assert "FR-R92B-58" in answer_of(second)
    assert len(await history(client, session_id)) == 4
    # "1234" (the original frontend's "no session yet") starts a new session, as on /ai.
    fresh = await complete(client, [user(ACCEPTANCE)], headers={"X-Session-Id": "1234"})
    assert fresh.headers["X-Session-Id"] not in ("1234", session_id)


async def test_stateless_client_history_is_taken_into_a_new_session(
    client: httpx.AsyncClient,
) -> None:
    """No X-Session-Id: the resent conversation seeds a new session, then the turn runs on it.

    (The offline model resolves "it" from earlier *tool results*, which an imported history
    lacks, so the questions here stand alone; `test_model_sees_the_imported_history_once`
    shows the model receives the imported turns.)
    """
    earlier = await complete(client, [user(ACCEPTANCE)])
    second_question = "What is the SKU of HL Road Frame - Black?"
    messages = [user(ACCEPTANCE), assistant(answer_of(earlier)), user(second_question)]
    response = await complete(client, messages)
    session_id = response.headers["X-Session-Id"]
    assert session_id != earlier.headers["X-Session-Id"]
    assert "FR-R92B" in answer_of(response)
    stored = await history(client, session_id)
    assert stored[:2] == [user(ACCEPTANCE), assistant(answer_of(earlier))]
    assert stored[2:] == [user(second_question), assistant(answer_of(response))]
    # Continuing it with the header and the whole conversation adds one turn, no duplicates.
    messages += [assistant(answer_of(response)), user(ACCEPTANCE)]
    again = await complete(client, messages, headers={"X-Session-Id": session_id})
    assert "$1431.50" in answer_of(again)
    assert len(await history(client, session_id)) == 6


async def test_conflicting_history_is_409_and_stores_nothing(client: httpx.AsyncClient) -> None:
    first = await complete(client, [user(ACCEPTANCE)])
    session_id = first.headers["X-Session-Id"]
    stored = await history(client, session_id)
    for stream in (False, True):
        response = await complete(
            client,
            [user("a different first question"), assistant("x"), user(FOLLOW_UP)],
            headers={"X-Session-Id": session_id},
            stream=stream,
        )
        assert response.status_code == 409, response.text
        assert response.headers["x-should-retry"] == "false"
        error = response.json()["error"]
        assert error["code"] == "session_conflict" and error["param"] == "messages"
        assert error["type"] == "invalid_request_error"
    assert await history(client, session_id) == stored


async def test_stream_format(client: httpx.AsyncClient) -> None:
    response = await complete(client, [user(ACCEPTANCE)], stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "\r" not in response.text  # plain "\n" line endings, as OpenAI sends
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0] == {
        "index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"
    }  # fmt: skip
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    session_id = response.headers["X-Session-Id"]
    assert (await history(client, session_id))[-1] == {"role": "assistant", "content": text}


async def test_errors_use_openai_shape_only_on_v1(client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any] | bytes, int, str | None]] = [
        (b"{not json", 400, None),
        ({"messages": []}, 400, "messages"),
        ({"messages": "hi"}, 400, "messages"),
        ({"messages": [user("hi")], "n": 2}, 400, "n"),
        ({"messages": [user("hi")], "stream": "yes please"}, 400, "stream"),
        ({"messages": [user("hi")], "response_format": {"type": "json_object"}}, 400,
         "response_format.type"),
        ({"model": "gpt-4o", "messages": [user("hi")]}, 404, "model"),
    ]  # fmt: skip
    for body, status, param in cases:
        if isinstance(body, bytes):
            response = await client.post(
                "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
            )
        else:
            response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert error["param"] == param and error["message"]
    # The rest of the app keeps its own shape.
    response = await client.post("/ai", json={})
    assert response.status_code == 422
    assert set(response.json()["error"]) >= {"code", "message"}
    assert "type" not in response.json()["error"]


async def test_sampling_options_are_accepted_and_ignored(client: httpx.AsyncClient) -> None:
    response = await complete(
        client,
        [user(ACCEPTANCE)],
        temperature=0.2,
        max_tokens=50,
        top_p=1,
        user="alice@example.com",
        stream_options={"include_usage": True},
        tools=[],
    )
    assert "$1431.50" in answer_of(response)


async def test_not_started_is_503_in_openai_shape(settings: Settings) -> None:
    application = create_app(settings)  # lifespan not run: no runtime yet
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await complete(c, [user("hi")])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "starting"
    assert response.json()["error"]["type"] == "server_error"


async def test_auth_follows_the_service_rule(settings: Settings) -> None:
    keyed = settings.model_copy(
        update={"api_keys": SecretStr("alice:alice-key-0123456789, bob:bob-key-0123456789")}
    )
    application = create_app(keyed)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/v1/models")).status_code == 401
            wrong = await complete(c, [user("hi")], headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            alice = {"Authorization": "Bearer alice-key-0123456789"}
            first = await complete(c, [user(ACCEPTANCE)], headers=alice)
            assert "$1431.50" in answer_of(first)
            session_id = first.headers["X-Session-Id"]
            # Bob cannot continue (or probe) Alice's session: 404 as for an unknown one.
            bob = {"X-API-Key": "bob-key-0123456789", "X-Session-Id": session_id}
            response = await complete(c, [user(FOLLOW_UP)], headers=bob)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "session_not_found"


async def test_failed_stream_reports_an_error_chunk_and_rolls_back(open_app_with: Any) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app_with(model) as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            first = await complete(c, [user("q1")])
            session_id = first.headers["X-Session-Id"]
            assert answer_of(first) == "Answer to q1"
            model.error = RuntimeError("the model broke")
            response = await complete(
                c,
                [user("q1"), assistant("Answer to q1"), user("q2"), assistant("a2"), user("q3")],
                headers={"X-Session-Id": session_id},
                stream=True,
            )
            assert response.status_code == 200
            data = sse_data(response.text)
            assert data[-1] == "[DONE]"
            error = json.loads(data[-2])["error"]
            assert error["code"] == "internal_error" and error["type"] == "server_error"
            assert "broke" not in error["message"]  # no internals reach the client
            # The failed turn is gone, with the (q2, a2) pair it brought in.
            assert await history(c, session_id) == [user("q1"), assistant("Answer to q1")]
            model.error = None
            again = await complete(c, [user("q4")], headers={"X-Session-Id": session_id})
            assert answer_of(again) == "Answer to q4"
            assert len(await history(c, session_id)) == 4


async def test_model_sees_the_imported_history_once(open_app_with: Any) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app_with(model) as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await complete(c, [user("q1"), assistant("a1"), user("q2")])
            assert answer_of(response) == "Answer to q2"
    seen = [(m.type, m.text) for m in model.calls[-1] if m.type != "system"]
    assert seen == [("human", "q1"), ("ai", "a1"), ("human", "q2")]
    assert not any(isinstance(m, AIMessage) and m.tool_calls for m in model.calls[-1])


@pytest.fixture
def open_app_with(settings: Settings) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def factory(model: Any) -> Any:
        application: FastAPI = create_app(settings, model=model)
        async with application.router.lifespan_context(application):
            yield application

    return factory
