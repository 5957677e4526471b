"""`POST /ai` (the original frontend's contract) and `POST /ai/stream` (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import httpx2  # the HTTP client of the openai SDK
import openai
import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages import HumanMessage as Human

from app.schemas import MAX_PROMPT_CHARS
from app.turns import thread_config
from graphs.runtime import AgentRuntime
from tests.fakes import AppFactory, ScriptedChatModel, asgi_client, echo_responder, tool_call

# The first run on a machine embeds the sample catalog (cached afterwards): minutes.
pytestmark = pytest.mark.timeout(900)

ACCEPTANCE_QUESTION = "What was the price of the product with sku `FR-R92B-58`?"

Event = tuple[str, dict[str, Any]]


def parse_sse(text: str) -> list[Event]:
    """`(event, data)` pairs of an SSE body; comment lines (pings) are skipped."""
    events: list[Event] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


async def read_events(response: httpx.Response, stop_after_tokens: int) -> list[Event]:
    """Read a streamed SSE response until `stop_after_tokens` token events arrived."""
    events: list[Event] = []
    buffer = ""
    async for text in response.aiter_text():
        buffer += text.replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            events.extend(parse_sse(block + "\n\n"))
            if sum(1 for name, _ in events if name == "token") >= stop_after_tokens:
                return events
    return events


def _runtime(app: Any) -> AgentRuntime:
    runtime: AgentRuntime = app.state.runtime
    return runtime


async def _raw_messages(app: Any, session_id: str) -> list[BaseMessage]:
    runtime = _runtime(app)
    snapshot = await runtime.graph.aget_state(thread_config(runtime, session_id))
    return list(snapshot.values.get("messages", []))


def _timeout_error() -> openai.APITimeoutError:
    url = "https://contoso.openai.azure.com/openai/deployments/completions/chat/completions"
    return openai.APITimeoutError(request=httpx2.Request("POST", url))


# --- /ai ---------------------------------------------------------------------------------------


async def test_root_is_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.parametrize("body", [{"session_id": "1234"}, {}, {"session_id": None}])
async def test_ai_starts_a_new_session_and_answers_the_acceptance_question(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/ai", json={**body, "prompt": ACCEPTANCE_QUESTION})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == {"message", "session_id"}
    assert payload["session_id"] not in ("1234", "", None)
    assert "$1431.50" in payload["message"]
    assert response.headers["x-session-id"] == payload["session_id"]


async def test_second_turn_continues_the_session(client: httpx.AsyncClient) -> None:
    first = await client.post("/ai", json={"session_id": "1234", "prompt": ACCEPTANCE_QUESTION})
    session_id = first.json()["session_id"]
    second = await client.post(
        "/ai", json={"session_id": session_id, "prompt": "What is HL Road Frame?"}
    )
    assert second.status_code == 200
    assert second.json()["session_id"] == session_id
    history = (await client.get(f"/session/load/{session_id}")).json()["history"]
    assert [item["role"] for item in history] == ["user", "assistant", "user", "assistant"]
    assert history[0]["content"] == ACCEPTANCE_QUESTION
    assert history[2]["content"] == "What is HL Road Frame?"
    assert history[3]["content"] == second.json()["message"]


async def test_second_turn_sees_the_first(open_app: AppFactory) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model) as app, asgi_client(app) as client:
        first = await client.post("/ai", json={"session_id": "1234", "prompt": "first question"})
        session_id = first.json()["session_id"]
        await client.post("/ai", json={"session_id": session_id, "prompt": "and its price?"})
    seen = [m.text for m in model.calls[-1] if isinstance(m, Human | AIMessage)]
    assert seen == ["first question", "Answer to first question", "and its price?"]


async def test_ai_accepts_a_client_chosen_session_id(open_app: AppFactory) -> None:
    async with open_app(ScriptedChatModel(responder=echo_responder())) as app:
        async with asgi_client(app) as client:
            response = await client.post("/ai", json={"session_id": "my-chat.1", "prompt": "hi"})
    assert response.json() == {"message": "Answer to hi", "session_id": "my-chat.1"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session_id": "1234"}, "prompt"),
        ({"session_id": "1234", "prompt": ""}, "prompt"),
        ({"session_id": "1234", "prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "prompt"),
        ({"session_id": "not a valid id!", "prompt": "hi"}, "session_id"),
        ({"session_id": "1234", "prompt": 42}, "prompt"),
    ],
)
async def test_ai_rejects_invalid_bodies_with_json_422(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/ai", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == field
    assert field in error["message"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [("prompt=hi", "application/x-www-form-urlencoded"), ("{not json", "application/json")],
)
async def test_ai_rejects_non_json_bodies_with_json_422(
    client: httpx.AsyncClient, content: str, content_type: str
) -> None:
    response = await client.post("/ai", content=content, headers={"content-type": content_type})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "invalid_request"


async def test_ai_maps_a_model_timeout_to_504(open_app: AppFactory) -> None:
    async with open_app(ScriptedChatModel(error=_timeout_error())) as app:
        async with asgi_client(app) as client:
            response = await client.post("/ai", json={"prompt": "hi"})
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "model_timeout"
    assert "completions" in error["message"]


async def test_concurrent_turns_on_one_session_do_not_interleave(open_app: AppFactory) -> None:
    model = ScriptedChatModel(responder=echo_responder(), token_delay=0.05)
    async with open_app(model) as app, asgi_client(app) as client:

        def ask(prompt: str) -> asyncio.Task[httpx.Response]:
            body = {"session_id": "shared", "prompt": prompt}
            return asyncio.create_task(client.post("/ai", json=body))

        first_task = ask("q1")
        await asyncio.wait_for(model.started.wait(), timeout=5)  # q1's model is streaming
        first, second = await asyncio.gather(first_task, ask("q2"))
        history = (await client.get("/session/load/shared")).json()["history"]
    assert first.json()["message"] == "Answer to q1"
    assert second.json()["message"] == "Answer to q2"
    assert [item["content"] for item in history] == ["q1", "Answer to q1", "q2", "Answer to q2"]
    assert model.max_concurrent_calls == 1
    assert len(app.state.turn_locks) == 0


# --- /ai/stream --------------------------------------------------------------------------------


async def test_stream_events_in_order(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/ai/stream", json={"session_id": "1234", "prompt": ACCEPTANCE_QUESTION}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]

    assert names[0] == "metadata"
    metadata = events[0][1]
    session_id = metadata["session_id"]
    assert session_id != "1234" and metadata["run_id"]
    assert names[1:3] == ["tool_start", "tool_end"]
    assert events[1][1]["name"] == events[2][1]["name"] == "get_product_by_sku"
    assert events[1][1]["input"] == {"sku": "FR-R92B-58"}
    assert names[-1] == "end" and "error" not in names
    tokens = [data["content"] for name, data in events if name == "token"]
    assert len(tokens) >= 2
    assert set(names[3:-1]) == {"token"}
    end = events[-1][1]
    assert end["session_id"] == session_id
    assert "".join(tokens) == end["message"]
    assert "$1431.50" in end["message"]

    listed = (await client.get("/session/list")).json()
    assert [s["session_id"] for s in listed] == [session_id]
    assert listed[0]["title"] == ACCEPTANCE_QUESTION
    loaded = (await client.get(f"/session/load/{session_id}")).json()
    assert loaded["history"] == [
        {"role": "user", "content": ACCEPTANCE_QUESTION},
        {"role": "assistant", "content": end["message"]},
    ]


async def test_stream_validation_errors_are_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/ai/stream", json={"session_id": "1234", "prompt": ""})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "prompt"


@pytest.mark.parametrize(
    ("error", "code"),
    [(_timeout_error(), "model_timeout"), (RuntimeError("secret internals"), "internal_error")],
)
async def test_stream_reports_failures_as_an_error_event(
    open_app: AppFactory, error: BaseException, code: str
) -> None:
    async with open_app(ScriptedChatModel(error=error)) as app, asgi_client(app) as client:
        response = await client.post("/ai/stream", json={"prompt": "hi"})
        session_id = response.headers["x-session-id"]
        listed = (await client.get("/session/list")).json()
    events = parse_sse(response.text)
    assert [name for name, _ in events] == ["metadata", "error"]
    assert events[1][1]["code"] == code
    assert set(events[1][1]) == {"code", "message"}
    assert "Traceback" not in response.text and "secret internals" not in response.text
    assert session_id not in [s["session_id"] for s in listed]  # nothing of the turn is kept


async def test_client_disconnect_cancels_the_turn(open_app: AppFactory) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model) as app, asgi_client(app) as client:
        first = await client.post("/ai", json={"prompt": "q1"})
        session_id = first.json()["session_id"]
        before = await _raw_messages(app, session_id)

        model.script = [
            tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}),
            AIMessage(" ".join(["word"] * 100)),
        ]
        model.responder = None
        model.token_delay = 0.05
        async with asgi_client(app, streaming=True) as streaming:
            async with streaming.stream(
                "POST", "/ai/stream", json={"session_id": session_id, "prompt": "q2"}
            ) as response:
                events = await read_events(response, stop_after_tokens=2)
        assert [name for name, _ in events][:3] == ["metadata", "tool_start", "tool_end"]
        await asyncio.wait_for(model.cancelled.wait(), timeout=1)

        after = await _raw_messages(app, session_id)
        assert [m.id for m in after] == [m.id for m in before]  # tool call and prompt removed
        loaded = (await client.get(f"/session/load/{session_id}")).json()
        assert [item["content"] for item in loaded["history"]] == ["q1", "Answer to q1"]

        model.responder, model.token_delay = echo_responder(), 0
        third = await client.post("/ai", json={"session_id": session_id, "prompt": "q3"})
        assert third.json()["message"] == "Answer to q3"
        loaded = (await client.get(f"/session/load/{session_id}")).json()
        assert [item["content"] for item in loaded["history"]] == [
            "q1",
            "Answer to q1",
            "q3",
            "Answer to q3",
        ]
        assert len(app.state.turn_locks) == 0


async def test_disconnect_during_a_first_turn_leaves_no_session(open_app: AppFactory) -> None:
    model = ScriptedChatModel(script=[AIMessage(" ".join(["word"] * 100))], token_delay=0.05)
    async with open_app(model) as app, asgi_client(app, streaming=True) as streaming:
        async with streaming.stream("POST", "/ai/stream", json={"prompt": "q1"}) as response:
            events = await read_events(response, stop_after_tokens=2)
        session_id = events[0][1]["session_id"]
        await asyncio.wait_for(model.cancelled.wait(), timeout=1)
        listed = (await streaming.get("/session/list")).json()
        assert listed == []
        assert await _raw_messages(app, session_id) == []


async def test_stream_sends_keep_alive_pings(
    open_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.routes import chat

    monkeypatch.setattr(chat, "PING_INTERVAL_S", 0.05)
    model = ScriptedChatModel(script=[AIMessage("slow answer in five words")], token_delay=0.1)
    async with open_app(model) as app, asgi_client(app) as client:
        response = await client.post("/ai/stream", json={"prompt": "hi"})
    assert ": ping" in response.text
    assert [name for name, _ in parse_sse(response.text)][-1] == "end"
