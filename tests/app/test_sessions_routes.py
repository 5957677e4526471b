"""`/session/list`, `/session/load/{id}`, `DELETE /session/{id}`, and persistence on disk."""

from __future__ import annotations

import httpx
import pytest
from langchain_core.messages import HumanMessage

from app.turns import thread_config
from core.settings import Settings
from graphs.runtime import AgentRuntime
from tests.fakes import AppFactory, ScriptedChatModel, asgi_client, echo_responder

# The first run on a machine embeds the sample catalog (cached afterwards): minutes.
pytestmark = pytest.mark.timeout(900)

ACCEPTANCE_QUESTION = "What was the price of the product with sku `FR-R92B-58`?"


async def _ask(client: httpx.AsyncClient, prompt: str, session_id: str = "1234") -> str:
    response = await client.post("/ai", json={"session_id": session_id, "prompt": prompt})
    assert response.status_code == 200, response.text
    session: str = response.json()["session_id"]
    return session


async def test_list_is_empty_at_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/session/list")
    assert response.status_code == 200
    assert response.json() == []


async def test_list_newest_first_and_load(open_app: AppFactory) -> None:
    async with open_app(ScriptedChatModel(responder=echo_responder())) as app:
        async with asgi_client(app) as client:
            first = await _ask(client, "first chat")
            second = await _ask(client, "second chat")
            third = await _ask(client, "third chat")
            listed = (await client.get("/session/list")).json()
            assert [s["session_id"] for s in listed] == [third, second, first]
            assert [s["title"] for s in listed] == ["third chat", "second chat", "first chat"]
            assert set(listed[0]) == {"session_id", "title", "created_at", "updated_at"}

            await _ask(client, "back to the first", first)  # using a session moves it up
            listed = (await client.get("/session/list")).json()
            assert [s["session_id"] for s in listed] == [first, third, second]
            assert listed[0]["title"] == "first chat"  # the title stays the first question
            assert listed[0]["updated_at"] >= listed[0]["created_at"]

            loaded = (await client.get(f"/session/load/{first}")).json()
    assert loaded["session_id"] == first and loaded["title"] == "first chat"
    assert loaded["history"] == [
        {"role": "user", "content": "first chat"},
        {"role": "assistant", "content": "Answer to first chat"},
        {"role": "user", "content": "back to the first"},
        {"role": "assistant", "content": "Answer to back to the first"},
    ]


async def test_delete_then_load_is_404(open_app: AppFactory) -> None:
    async with open_app(ScriptedChatModel(responder=echo_responder())) as app:
        async with asgi_client(app) as client:
            keep = await _ask(client, "keep me")
            drop = await _ask(client, "drop me")
            response = await client.delete(f"/session/{drop}")
            assert response.status_code == 204
            assert response.content == b""

            missing = await client.get(f"/session/load/{drop}")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "session_not_found"
            assert [s["session_id"] for s in (await client.get("/session/list")).json()] == [keep]
            assert (await client.delete(f"/session/{drop}")).status_code == 404

            runtime: AgentRuntime = app.state.runtime
            snapshot = await runtime.graph.aget_state(thread_config(runtime, drop))
            assert snapshot.values.get("messages", []) == []  # the checkpoints are gone too
            assert (await client.get(f"/session/load/{keep}")).status_code == 200


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_unknown_and_invalid_ids(client: httpx.AsyncClient, method: str) -> None:
    path = "/session/load/{}" if method == "GET" else "/session/{}"
    unknown = await client.request(method, path.format("no-such-session"))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "session_not_found"

    invalid = await client.request(method, path.format("-bad%20id"))
    assert invalid.status_code == 422
    error = invalid.json()["error"]
    assert error["code"] == "invalid_request"
    assert "session_id" in error["field"]


async def test_other_owners_sessions_are_invisible(open_app: AppFactory) -> None:
    async with open_app(ScriptedChatModel(responder=echo_responder())) as app:
        runtime: AgentRuntime = app.state.runtime
        await runtime.sessions.record_turn("alice-chat", "alice's question", "alice")
        async with asgi_client(app) as client:
            mine = await _ask(client, "my question")
            listed = (await client.get("/session/list")).json()
            assert [s["session_id"] for s in listed] == [mine]
            assert (await client.get("/session/load/alice-chat")).status_code == 404
            assert (await client.delete("/session/alice-chat")).status_code == 404
            turn = await client.post("/ai", json={"session_id": "alice-chat", "prompt": "hi"})
            assert turn.status_code == 404
            assert turn.json()["error"]["code"] == "session_not_found"
        alice = await runtime.sessions.get("alice-chat")
        assert alice is not None and alice.owner == "alice"


async def test_conversations_survive_a_restart(open_app: AppFactory) -> None:
    async with open_app() as app, asgi_client(app) as client:
        session_id = await _ask(client, ACCEPTANCE_QUESTION)

    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model) as app, asgi_client(app) as client:
        listed = (await client.get("/session/list")).json()
        assert [(s["session_id"], s["title"]) for s in listed] == [
            (session_id, ACCEPTANCE_QUESTION)
        ]
        loaded = (await client.get(f"/session/load/{session_id}")).json()
        assert len(loaded["history"]) == 2
        assert "$1431.50" in loaded["history"][1]["content"]

        await _ask(client, "and its price?", session_id)
        seen = [m.text for m in model.calls[0] if isinstance(m, HumanMessage)]
        assert seen == [ACCEPTANCE_QUESTION, "and its price?"]
        history = (await client.get(f"/session/load/{session_id}")).json()["history"]
        assert len(history) == 4


async def test_a_long_conversation_loads_whole_after_compaction_and_a_restart(
    open_app: AppFactory, settings: Settings
) -> None:
    """Turns compacted out of the checkpointed window (graphs.state) still load, in order,
    after a restart; a failed turn after compaction is rolled back without touching them."""
    small = settings.model_copy(update={"max_context_messages": 4})
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model, settings=small) as app, asgi_client(app) as client:
        session = await _ask(client, "turn 0")
        for turn in range(1, 12):
            assert await _ask(client, f"turn {turn}", session) == session
        runtime: AgentRuntime = app.state.runtime
        values = (await runtime.graph.aget_state(thread_config(runtime, session))).values
        assert len(values["messages"]) <= 4 and len(values["archive"]) >= 18
        model.error = RuntimeError("the model broke")
        failed = await client.post("/ai", json={"session_id": session, "prompt": "lost"})
        assert failed.status_code >= 500
    expected = []
    for turn in range(12):
        expected += [
            {"role": "user", "content": f"turn {turn}"},
            {"role": "assistant", "content": f"Answer to turn {turn}"},
        ]
    async with open_app(ScriptedChatModel(responder=echo_responder()), settings=small) as app:
        async with asgi_client(app) as client:
            loaded = (await client.get(f"/session/load/{session}")).json()
            assert loaded["history"] == expected
            await _ask(client, "turn 12", session)
            loaded = (await client.get(f"/session/load/{session}")).json()
    assert loaded["history"][-2:] == [
        {"role": "user", "content": "turn 12"},
        {"role": "assistant", "content": "Answer to turn 12"},
    ]
    assert len(loaded["history"]) == 26
