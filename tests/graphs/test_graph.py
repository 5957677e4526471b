"""The agent graph: memory per thread, persistence across saver restarts, bounded context,
orphan tool calls, the step limit and the session hook.

The checkpointer tests run on every backend (memory, SQLite, MongoDB on SecantusDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from core.settings import CheckpointerBackend, Settings
from graphs.checkpointer import CheckpointerError, open_checkpointer
from graphs.graph import build_graph, drop_unpaired_tool_calls, trim_history
from graphs.history import history_from_state
from graphs.prompts import STEP_LIMIT_MESSAGE
from graphs.sessions import MemorySessionIndex
from tests.fakes import ScriptedChatModel, echo_responder, tool_call
from tests.graphs.conftest import SettingsFor
from tools import build_tools


class _NoStore:
    """The tools are bound but these tests' scripts never call them (or call a failing one)."""

    async def get_product_by_sku(self, sku: str) -> None:
        return None

    async def hybrid_search_products(self, query: str, k: int = 3, filter: Any = None) -> list:
        return []


def _config(thread: str, limit: int = 25) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, "recursion_limit": limit}


def _human_texts(messages: list[BaseMessage]) -> list[str]:
    return [m.text for m in messages if isinstance(m, HumanMessage)]


@pytest.mark.parametrize("backend", ["memory", "sqlite", "mongodb"])
async def test_second_turn_sees_first_and_other_thread_does_not(
    backend: CheckpointerBackend, checkpointer_settings_for: SettingsFor
) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_checkpointer(checkpointer_settings_for(backend)) as saver:
        graph = build_graph(model, build_tools(_NoStore()), saver)  # type: ignore[arg-type]

        await graph.ainvoke({"messages": [HumanMessage("first question")]}, _config("a"))
        await graph.ainvoke({"messages": [HumanMessage("second question")]}, _config("a"))
        await graph.ainvoke({"messages": [HumanMessage("other thread")]}, _config("b"))

    assert _human_texts(model.calls[1]) == ["first question", "second question"]
    assert _human_texts(model.calls[2]) == ["other thread"]
    assert isinstance(model.calls[1][0], type(model.calls[0][0]))  # system prompt first
    assert model.calls[0][0].type == "system"


@pytest.mark.parametrize("backend", ["memory", "sqlite", "mongodb"])
async def test_delete_thread_forgets_only_that_thread(
    backend: CheckpointerBackend, checkpointer_settings_for: SettingsFor
) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_checkpointer(checkpointer_settings_for(backend)) as saver:
        graph = build_graph(model, build_tools(_NoStore()), saver)  # type: ignore[arg-type]
        for thread in ("gone", "kept"):
            await graph.ainvoke({"messages": [HumanMessage(f"in {thread}")]}, _config(thread))
            await graph.ainvoke({"messages": [HumanMessage("twice")]}, _config(thread))

        await saver.adelete_thread("gone")

        assert await saver.aget_tuple(_config("gone")) is None
        assert [c async for c in saver.alist(_config("gone"))] == []
        kept = await graph.aget_state(_config("kept"))
        assert _human_texts(kept.values["messages"]) == ["in kept", "twice"]
        await graph.ainvoke({"messages": [HumanMessage("fresh start")]}, _config("gone"))
    assert _human_texts(model.calls[-1]) == ["fresh start"]


@pytest.mark.parametrize("backend", ["sqlite", "mongodb"])
async def test_saver_keeps_the_thread_after_reopening(
    backend: CheckpointerBackend, checkpointer_settings_for: SettingsFor, tmp_path: Path
) -> None:
    settings = checkpointer_settings_for(backend)
    model = ScriptedChatModel(responder=echo_responder())
    tools = build_tools(_NoStore())  # type: ignore[arg-type]

    async with open_checkpointer(settings) as saver:
        graph = build_graph(model, tools, saver)
        await graph.ainvoke({"messages": [HumanMessage("remember me")]}, _config("t1"))

    async with open_checkpointer(settings) as saver:
        graph = build_graph(model, tools, saver)
        state = await graph.aget_state(_config("t1"))
        assert [m.text for m in state.values["messages"]] == [
            "remember me",
            "Answer to remember me",
        ]
        await graph.ainvoke({"messages": [HumanMessage("again")]}, _config("t1"))
    assert _human_texts(model.calls[-1]) == ["remember me", "again"]
    assert (tmp_path / "checkpoints.sqlite").is_file() == (backend == "sqlite")


async def test_mongodb_checkpointer_without_uri_names_the_setting(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, checkpointer="mongodb")
    with pytest.raises(CheckpointerError, match="MONGODB_URI"):
        async with open_checkpointer(settings):
            pass


async def test_model_input_stays_bounded_at_turn_200() -> None:
    model = ScriptedChatModel(responder=echo_responder())
    graph = build_graph(
        model,
        build_tools(_NoStore()),  # type: ignore[arg-type]
        InMemorySaver(),
        max_context_messages=10,
    )
    for turn in range(200):
        await graph.ainvoke({"messages": [HumanMessage(f"q{turn}")]}, _config("long"))
    state = await graph.aget_state(_config("long"))
    assert len(model.calls[-1]) == 1 + 9  # system + a window that starts at a user turn
    assert model.calls[-1][1].text == "q195" and model.calls[-1][-1].text == "q199"
    assert len(model.calls[-1]) == len(model.calls[10])  # turn 200 costs what turn 11 did
    # The checkpoint is bounded too: the window in `messages`, older turns as archived text,
    # and nothing of the conversation lost.
    messages = state.values["messages"]
    assert len(messages) == 10 and messages[0].text == "q195"
    assert len(state.values["archive"]) == 2 * 195
    history = history_from_state(state.values)
    assert [item["content"] for item in history[0::2]] == [f"q{i}" for i in range(200)]
    assert [item["role"] for item in history[:4]] == ["user", "assistant", "user", "assistant"]
    assert history[-1] == {"role": "assistant", "content": messages[-1].text}


async def test_compaction_moves_whole_turns_with_tool_calls_out_of_the_window() -> None:
    """Tool calls and their results leave together; a turn longer than the window stays."""
    model = ScriptedChatModel(
        script=[
            tool_call("get_product_by_sku", {"sku": "A"}, "c1"),
            AIMessage("answer one"),
            tool_call("get_product_by_sku", {"sku": "B"}, "c2"),
            AIMessage("answer two"),
        ]
    )
    graph = build_graph(
        model,
        build_tools(_NoStore()),
        InMemorySaver(),
        max_context_messages=3,  # type: ignore[arg-type]
    )
    await graph.ainvoke({"messages": [HumanMessage("one")]}, _config("c"))
    first = (await graph.aget_state(_config("c"))).values
    assert len(first["messages"]) == 4 and not first.get("archive")  # longer than the window
    await graph.ainvoke({"messages": [HumanMessage("two")]}, _config("c"))
    second = (await graph.aget_state(_config("c"))).values
    assert [type(m).__name__ for m in second["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert second["messages"][0].text == "two"
    assert second["archive"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "answer one"},
    ]


def test_trim_history_never_starts_with_a_tool_result() -> None:
    call = tool_call("get_product_by_sku", {"sku": "X"}, "c1")
    messages = [
        HumanMessage("q1"),
        call,
        ToolMessage("{}", tool_call_id="c1"),
        AIMessage("a1"),
        HumanMessage("q2"),
        AIMessage("a2"),
    ]
    assert trim_history(messages, 3) == messages[4:]
    assert trim_history(messages, 10) == messages
    # One turn longer than the window keeps its question and the newest complete part.
    long_turn = [HumanMessage("q"), call, ToolMessage("{}", tool_call_id="c1"), AIMessage("a")]
    trimmed = trim_history(long_turn, 3)
    assert trimmed[0].text == "q" and not isinstance(trimmed[1], ToolMessage)


def test_unpaired_tool_calls_are_left_out_of_the_model_input() -> None:
    orphan = tool_call("get_product_by_sku", {"sku": "X"}, "lost")
    paired = tool_call("get_product_by_sku", {"sku": "Y"}, "ok")
    messages = [
        HumanMessage("killed mid-turn"),
        orphan,
        HumanMessage("next"),
        paired,
        ToolMessage("{}", tool_call_id="ok"),
        ToolMessage("{}", tool_call_id="stray"),
        AIMessage("answer"),
    ]
    kept = drop_unpaired_tool_calls(messages)
    assert orphan not in kept
    assert paired in kept
    assert [m.tool_call_id for m in kept if isinstance(m, ToolMessage)] == ["ok"]


async def test_step_limit_turns_into_a_polite_answer() -> None:
    looping = ScriptedChatModel(
        responder=lambda messages: tool_call(
            "get_product_by_sku", {"sku": "FR-R92B-58"}, f"c{len(messages)}"
        )
    )
    graph = build_graph(looping, build_tools(_NoStore()), InMemorySaver())  # type: ignore[arg-type]
    result = await graph.ainvoke({"messages": [HumanMessage("loop")]}, _config("s", limit=6))
    last = result["messages"][-1]
    assert isinstance(last, AIMessage) and not last.tool_calls
    assert last.text == STEP_LIMIT_MESSAGE


async def test_a_failing_tool_reaches_the_model_as_an_error_message() -> None:
    class _Broken(_NoStore):
        async def get_product_by_sku(self, sku: str) -> None:
            raise RuntimeError("disk on fire")

    model = ScriptedChatModel(
        script=[
            tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}, "c1"),
            AIMessage("Sorry, the lookup failed."),
        ]
    )
    graph = build_graph(model, build_tools(_Broken()), InMemorySaver())  # type: ignore[arg-type]
    result = await graph.ainvoke({"messages": [HumanMessage("price?")]}, _config("e"))
    tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert tool_messages and tool_messages[0].status == "error"
    assert result["messages"][-1].text == "Sorry, the lookup failed."


async def test_turn_hook_records_each_user_turn_with_its_owner() -> None:
    sessions = MemorySessionIndex()
    graph = build_graph(
        ScriptedChatModel(responder=echo_responder()),
        build_tools(_NoStore()),  # type: ignore[arg-type]
        InMemorySaver(),
        on_turn=sessions.record_turn,
    )
    config = {"configurable": {"thread_id": "s1", "owner": "alice"}}
    await graph.ainvoke({"messages": [HumanMessage("What is HL Road Frame?")]}, config)
    await graph.ainvoke({"messages": [HumanMessage("and its price?")]}, config)
    summary = await sessions.get("s1")
    assert summary is not None
    assert summary.title == "What is HL Road Frame?" and summary.owner == "alice"
    assert [s.session_id for s in await sessions.list(owner="bob")] == []
