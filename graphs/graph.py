"""The agent state machine: agent node ⇄ tool node, with bounded context and a step limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import TOOL_CALL_ERROR_TEMPLATE

from catalog.store import StoreError
from graphs.history import compaction
from graphs.prompts import STEP_LIMIT_MESSAGE, SYSTEM_PROMPT
from graphs.state import AgentState, InputState, OutputState

AGENT_NODE = "agent"
TOOLS_NODE = "tools"
DEFAULT_MAX_CONTEXT_MESSAGES = 40

# Called once per user turn with (thread_id, the user's text, owner): lets the service keep its
# session list current whichever route (/ai, /agent, CLI) ran the turn. The owner is the
# `configurable.owner` the service sets for authenticated callers ("" in open mode).
TurnHook = Callable[[str, str, str], Awaitable[None]]


def trim_history(messages: Sequence[AnyMessage], max_messages: int) -> list[AnyMessage]:
    """The most recent messages, at most `max_messages`, starting at a user turn.

    Cutting at a human message keeps every tool call next to its result, which providers
    require, and makes the model's input size independent of the conversation's length.
    """
    if len(messages) <= max_messages:
        return list(messages)
    window = list(messages[-max_messages:])
    for index, message in enumerate(window):
        if isinstance(message, HumanMessage):
            return window[index:]
    # One turn longer than the window: keep its question and the newest messages that fit.
    last_human = max(
        (i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=None
    )
    if last_human is None:
        return window
    tail = list(messages[last_human + 1 :])[-(max_messages - 1) :]
    while tail and not isinstance(tail[0], AIMessage):
        tail = tail[1:]  # never start with an orphan tool result
    return [messages[last_human], *tail]


def drop_unpaired_tool_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """Remove tool calls without results (and results without calls) from the model's input.

    A process killed between the model's tool call and the tool's answer leaves such a call in
    the checkpoint; providers reject a conversation containing one, which would break the
    session for good. The checkpoint itself is left as it is.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    requested = {call["id"] for m in messages if isinstance(m, AIMessage) for call in m.tool_calls}
    kept: list[AnyMessage] = []
    for message in messages:
        if isinstance(message, AIMessage) and message.tool_calls:
            if not all(call["id"] in answered for call in message.tool_calls):
                continue
        if isinstance(message, ToolMessage) and message.tool_call_id not in requested:
            continue
        kept.append(message)
    return kept


def tool_error_message(error: Exception) -> str:
    """The content of the error tool message the model gets when a tool raises.

    A tool's own failure (a bug, bad data) goes back to the model, which can say so and still
    answer. A `StoreError` is re-raised: the catalog store being down is an outage of the
    service, not something the model can work around, so the turn fails (and is rolled back)
    and the client gets 503 `store_unavailable` instead of an apology with status 200.
    """
    if isinstance(error, StoreError):
        raise error
    return TOOL_CALL_ERROR_TEMPLATE.format(error=repr(error))


def _route_after_agent(state: AgentState) -> str:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return TOOLS_NODE
    return END


def build_graph(
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    *,
    system_prompt: str = SYSTEM_PROMPT,
    max_context_messages: int = DEFAULT_MAX_CONTEXT_MESSAGES,
    name: str = "cosmic-works-agent",
    on_turn: TurnHook | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the agent graph. Pass no checkpointer when a LangGraph server brings its own."""
    bound_model = model.bind_tools(list(tools))
    system = SystemMessage(content=system_prompt)

    async def call_model(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        messages = state["messages"]
        if on_turn is not None and messages and isinstance(messages[-1], HumanMessage):
            configurable = config.get("configurable", {})
            thread_id = configurable.get("thread_id")
            if thread_id:
                owner = str(configurable.get("owner") or "")
                await on_turn(str(thread_id), messages[-1].text, owner)
        history = trim_history(drop_unpaired_tool_calls(messages), max_context_messages)
        response = await bound_model.ainvoke([system, *history], config)
        if isinstance(response, AIMessage) and response.tool_calls and state["remaining_steps"] < 2:
            response = AIMessage(id=response.id, content=STEP_LIMIT_MESSAGE)
        if isinstance(response, AIMessage) and response.tool_calls:
            return {"messages": [response]}
        # The turn is answered: older turns leave the checkpointed messages (graphs.state).
        removals, archived = compaction([*messages, response], max_context_messages)
        update: dict[str, Any] = {"messages": [*removals, response]}
        if archived:
            update["archive"] = archived
        return update

    builder = StateGraph(AgentState, input_schema=InputState, output_schema=OutputState)
    builder.add_node(AGENT_NODE, call_model)
    builder.add_node(TOOLS_NODE, ToolNode(list(tools), handle_tool_errors=tool_error_message))
    builder.add_edge(START, AGENT_NODE)
    builder.add_conditional_edges(AGENT_NODE, _route_after_agent, [TOOLS_NODE, END])
    builder.add_edge(TOOLS_NODE, AGENT_NODE)
    return builder.compile(checkpointer=checkpointer, name=name)
