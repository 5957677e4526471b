"""The conversation as people see it: user prompts and final answers, and the compaction that
moves old turns out of the checkpointed messages into that form (see `graphs.state`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    convert_to_messages,
)


def is_answer(message: Any) -> bool:
    """A final assistant answer: an AI message with text and no tool call."""
    return isinstance(message, AIMessage) and not message.tool_calls and bool(message.text.strip())


def history_from_messages(messages: Iterable[Any]) -> list[dict[str, str]]:
    """User prompts and final answers as alternating `user`/`assistant` items.

    The frontend pairs `history[i]` with `history[i+1]`, so only answered prompts are kept: a
    prompt followed by another prompt, or left without an answer at the end (a turn that died
    mid-run), is dropped, as is an answer without a prompt. System messages, tool results
    and assistant messages that call tools or carry no text are not shown.
    """
    history: list[dict[str, str]] = []
    pending: str | None = None
    for message in convert_to_messages(list(messages)):
        if isinstance(message, HumanMessage):
            pending = message.text
        elif is_answer(message) and pending is not None:
            history.append({"role": "user", "content": pending})
            history.append({"role": "assistant", "content": message.text})
            pending = None
    return history


def history_from_state(values: Mapping[str, Any]) -> list[dict[str, str]]:
    """The whole history of a thread: its archived turns, then those still in `messages`."""
    archive = [dict(item) for item in values.get("archive") or []]
    return archive + history_from_messages(values.get("messages", []))


def compaction(
    messages: Sequence[AnyMessage], max_messages: int
) -> tuple[list[RemoveMessage], list[dict[str, str]]]:
    """What to remove from a thread's messages so that at most `max_messages` stay, and the
    history items of the removed turns (to append to `archive`).

    Only whole turns leave: the cut is at a user message, so every tool call stays with its
    result and the kept window is exactly what `trim_history` would send to the model. When
    the newest turn alone is longer than the window, everything before it goes.
    """
    if len(messages) <= max_messages:
        return [], []
    first_kept = len(messages) - max_messages
    cut = next(
        (i for i in range(first_kept, len(messages)) if isinstance(messages[i], HumanMessage)),
        None,
    )
    if cut is None:
        cut = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    removed = messages[:cut]
    removals = [RemoveMessage(id=str(m.id)) for m in removed if m.id]
    if len(removals) != len(removed):
        return [], []  # messages without ids cannot be removed: keep the thread as it is
    return removals, history_from_messages(removed)
