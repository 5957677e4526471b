"""Graph state: the recent messages, the archived transcript, and LangGraph's step budget.

Every checkpoint stores the whole state, so a state that grows with the conversation makes
each turn slower than the last (serialising 800 messages, four times a turn, by turn 200).
The agent therefore keeps in `messages` only what the model can see (the context window);
older turns leave it as plain (question, answer) text in `archive`, which is all the session
history shows of them, and costs next to nothing to store.
"""

from __future__ import annotations

import operator
from typing import Annotated, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps
from typing_extensions import TypedDict


class InputState(TypedDict):
    """What callers send: new messages, appended to the thread's history."""

    messages: Annotated[list[AnyMessage], add_messages]


class OutputState(InputState):
    """What a run returns: the thread's messages (the recent window, see the module doc)."""


class AgentState(InputState):
    """Internal state.

    `archive`: `{"role", "content"}` history items of turns compacted out of `messages`, in
    order (user, assistant, user, ...). `remaining_steps` lets the agent stop politely before
    the step limit.
    """

    archive: NotRequired[Annotated[list[dict[str, str]], operator.add]]
    remaining_steps: RemainingSteps
