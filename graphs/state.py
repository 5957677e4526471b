"""Graph state: the conversation's messages, plus LangGraph's step budget."""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps
from typing_extensions import TypedDict


class InputState(TypedDict):
    """What callers send: new messages, appended to the thread's history."""

    messages: Annotated[list[AnyMessage], add_messages]


class AgentState(InputState):
    """Internal state; `remaining_steps` lets the agent stop politely before the limit."""

    remaining_steps: RemainingSteps
