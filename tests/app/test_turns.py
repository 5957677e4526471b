"""Turn logic: session ids, history pairing, per-session locks, rollback of unfinished turns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from app.turns import (
    TurnLocks,
    ensure_session_writable,
    find_session,
    history_from_messages,
    resolve_session_id,
    run_turn,
    stream_turn,
    thread_config,
)
from graphs.runtime import AgentRuntime
from tests.fakes import AppFactory, ScriptedChatModel, echo_responder, tool_call

# The first run on a machine embeds the sample catalog (cached afterwards): minutes.
pytestmark = pytest.mark.timeout(900)

# --- session ids -----------------------------------------------------------------------------


@pytest.mark.parametrize("requested", ["1234", None, "", "   "])
def test_new_session_ids(requested: str | None) -> None:
    session_id, is_new = resolve_session_id(requested)
    assert is_new
    assert len(session_id) == 32 and int(session_id, 16) >= 0
    assert session_id != resolve_session_id(requested)[0]


def test_existing_session_id_is_kept() -> None:
    assert resolve_session_id("0f8c6c1e9b7a4e3f") == ("0f8c6c1e9b7a4e3f", False)


# --- history -------------------------------------------------------------------------------


def _tool_round(call_id: str = "c1") -> list[BaseMessage]:
    return [
        tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}, call_id),
        ToolMessage(content='{"price": 1431.5}', tool_call_id=call_id),
    ]


def test_history_keeps_prompts_and_final_answers_only() -> None:
    messages = [
        SystemMessage(content="system"),
        HumanMessage(content="q1"),
        *_tool_round(),
        AIMessage(content="a1"),
        HumanMessage(content="q2"),
        AIMessage(content="a2"),
    ]
    assert history_from_messages(messages) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]


def test_history_drops_unanswered_prompts() -> None:
    messages = [
        HumanMessage(content="crashed"),  # followed by another prompt
        *_tool_round(),
        HumanMessage(content="q1"),
        AIMessage(content="   "),  # empty answer: not an answer
        AIMessage(content="a1"),
        AIMessage(content="orphan answer"),  # no prompt left to pair with
        HumanMessage(content="q2"),
        *_tool_round("c2"),  # the turn died after its tool call
    ]
    assert history_from_messages(messages) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
    ]


def test_history_accepts_message_dicts_and_content_blocks() -> None:
    messages: list[Any] = [
        {"type": "human", "content": [{"type": "text", "text": "q1"}]},
        {"type": "ai", "content": "a1"},
    ]
    assert history_from_messages(messages) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
    ]
    assert history_from_messages([]) == []


# --- locks -----------------------------------------------------------------------------------


async def test_turn_locks_serialise_one_session_and_clean_up() -> None:
    locks = TurnLocks()
    order: list[str] = []

    async def turn(session_id: str, name: str, delay: float) -> None:
        async with locks.hold(session_id):
            order.append(f"{name} start")
            await asyncio.sleep(delay)
            order.append(f"{name} end")

    first = asyncio.create_task(turn("s1", "first", 0.05))
    await asyncio.sleep(0)
    second = asyncio.create_task(turn("s1", "second", 0))
    other = asyncio.create_task(turn("s2", "other", 0))
    await asyncio.sleep(0.01)
    assert locks.locked("s1") and len(locks) == 1  # "other" already finished
    await asyncio.gather(first, second, other)
    assert order.index("first end") < order.index("second start")
    assert order.index("other end") < order.index("first end")  # other sessions do not wait
    assert len(locks) == 0


async def test_cancelled_waiter_releases_its_registry_entry() -> None:
    locks = TurnLocks()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("s"):
            held.set()
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("s"):
            pass

    holding = asyncio.create_task(holder())
    await held.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holding
    assert len(locks) == 0


# --- turns over the real graph ----------------------------------------------------------------


def _runtime(app: Any) -> AgentRuntime:
    runtime: AgentRuntime = app.state.runtime
    return runtime


async def _messages(runtime: AgentRuntime, session_id: str) -> list[BaseMessage]:
    snapshot = await runtime.graph.aget_state(thread_config(runtime, session_id))
    return list(snapshot.values.get("messages", []))


async def test_run_turn_returns_the_answer_and_records_the_session(open_app: AppFactory) -> None:
    model = ScriptedChatModel(
        script=[
            tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}),
            AIMessage("It is $1431.50."),
        ]
    )
    async with open_app(model) as app:
        runtime = _runtime(app)
        assert await run_turn(runtime, "s1", "Price of FR-R92B-58?", "") == "It is $1431.50."
        summary = await find_session(runtime, "s1", "")
        assert summary is not None and summary.title == "Price of FR-R92B-58?"
        assert await find_session(runtime, "s1", "someone-else") is None
        tool_result = (await _messages(runtime, "s1"))[2]
        assert isinstance(tool_result, ToolMessage) and "1431.5" in tool_result.text


async def test_failed_turn_is_rolled_back(open_app: AppFactory) -> None:
    """A turn that dies after its tool call leaves the thread as it was before the turn."""
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model) as app:
        runtime = _runtime(app)
        await run_turn(runtime, "s1", "q1", "")
        before = await _messages(runtime, "s1")

        model.responder = None
        model.script = [tool_call("get_product_by_sku", {"sku": "FR-R92B-58"})]
        # the script is then exhausted: the second model call of the turn fails
        with pytest.raises(AssertionError, match="script exhausted"):
            await run_turn(runtime, "s1", "q2", "")
        after = await _messages(runtime, "s1")
        assert [m.id for m in after] == [m.id for m in before]
        snapshot = await runtime.graph.aget_state(thread_config(runtime, "s1"))
        assert snapshot.next == ()

        model.responder = echo_responder()
        assert await run_turn(runtime, "s1", "q3", "") == "Answer to q3"
        assert history_from_messages(await _messages(runtime, "s1"))[-2:] == [
            {"role": "user", "content": "q3"},
            {"role": "assistant", "content": "Answer to q3"},
        ]
        # the model saw no trace of the failed turn
        assert all(m.text != "q2" for m in model.calls[-1])


async def test_failed_first_turn_leaves_no_session(open_app: AppFactory) -> None:
    model = ScriptedChatModel(error=RuntimeError("boom"))
    async with open_app(model) as app:
        runtime = _runtime(app)
        with pytest.raises(RuntimeError):
            await run_turn(runtime, "s1", "q1", "")
        assert await runtime.sessions.get("s1") is None
        assert await _messages(runtime, "s1") == []


async def test_stream_turn_events(open_app: AppFactory) -> None:
    model = ScriptedChatModel(
        script=[
            tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}),
            AIMessage("It is $1431.50."),
        ]
    )
    async with open_app(model) as app:
        events = [e async for e in stream_turn(_runtime(app), "s1", "Price?", "")]
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["tool_start", "tool_end"] and kinds[-1] == "end"
    assert events[0].data == {"name": "get_product_by_sku", "input": {"sku": "FR-R92B-58"}}
    tokens = [e.data["content"] for e in events if e.kind == "token"]
    assert len(tokens) == 3 and "".join(tokens) == events[-1].data["message"] == "It is $1431.50."


async def test_stream_turn_sends_an_unstreamed_answer_as_one_token(open_app: AppFactory) -> None:
    """When the model streamed no text (e.g. the step-limit message), clients still get it."""
    model = ScriptedChatModel(script=[AIMessage("")])
    async with open_app(model) as app:
        events = [e async for e in stream_turn(_runtime(app), "s1", "Hi", "")]
    assert [e.kind for e in events] == ["end"]
    assert events[0].data == {"message": "", "session_id": "s1"}


async def test_turns_on_another_owners_session_are_refused(open_app: AppFactory) -> None:
    from app.errors import ApiError

    async with open_app(ScriptedChatModel(responder=echo_responder())) as app:
        runtime = _runtime(app)
        await runtime.sessions.record_turn("alice-chat", "hello", "alice")
        with pytest.raises(ApiError) as raised:
            await ensure_session_writable(runtime, "alice-chat", "bob")
        assert raised.value.status == 404 and raised.value.code == "session_not_found"
        await ensure_session_writable(runtime, "alice-chat", "alice")
        await ensure_session_writable(runtime, "brand-new", "bob")
