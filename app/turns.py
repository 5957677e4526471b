"""One conversation turn, shared by `POST /ai` and `POST /ai/stream`.

Three rules live here so that both routes honour them identically:

* **Session ids.** `"1234"` (the original frontend's "no session yet" id), a missing or an
  empty id start a new session with a fresh `uuid4().hex`; any other id names a session
  (an unknown one is created on its first turn).
* **One turn at a time per session.** Two turns on the same thread would read the same
  checkpoint and write interleaved messages (q1, q2, a1, a2 — the frontend pairs
  `history[i]`, `history[i+1]`). `TurnLocks` holds an `asyncio.Lock` per session id on
  `app.state`; the second request waits for the first to finish. Entries are reference
  counted and removed when no request holds or waits for them, so the registry stays as small
  as the number of sessions in flight. The lock is per process: replicas behind a load
  balancer do not serialise each other (route a session to one replica if that matters).
  LangServe's `/agent` routes take the same locks (`app.langserve_routes`).
* **Only complete turns are stored.** A turn that fails or is cancelled (client disconnect,
  shutdown) is rolled back: its messages — the user's prompt, tool calls, tool results —
  are removed from the thread, so no half answer and no tool call without its result (which
  providers reject on the next turn) stays behind. A first turn that fails leaves nothing:
  the thread and its session-index entry are deleted. If the process dies mid-turn the
  rollback cannot run; `history_from_messages` then skips the unanswered prompt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID, uuid4

import anyio
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.constants import END
from starlette.datastructures import State

from app.errors import ApiError
from app.logging import run_metadata
from app.schemas import NEW_SESSION_ID
from graphs.graph import AGENT_NODE, TOOLS_NODE
from graphs.history import history_from_messages, history_from_state, is_answer
from graphs.runtime import TURN_DURABILITY, AgentRuntime
from graphs.sessions import SessionSummary

logger = logging.getLogger(__name__)

ROLLBACK_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------------------------
# Session ids
# --------------------------------------------------------------------------------------------


def resolve_session_id(requested: str | None) -> tuple[str, bool]:
    """The thread id for a request and whether it starts a new session.

    The original frontend opens every chat, and "Clear chat" resets, with `"1234"`: that id
    must never name a shared conversation, so it (like no id at all) mints a new one.
    """
    if requested is None or not requested.strip() or requested == NEW_SESSION_ID:
        return uuid4().hex, True
    return requested, False


def session_not_found(session_id: str) -> ApiError:
    return ApiError(404, "session_not_found", f"No session {session_id!r}.")


async def find_session(runtime: AgentRuntime, session_id: str, owner: str) -> SessionSummary | None:
    """The session if it exists and belongs to `owner`.

    Another owner's session is reported exactly like a missing one, so ids cannot be probed.
    """
    summary = await runtime.sessions.get(session_id)
    if summary is None or summary.owner != owner:
        return None
    return summary


async def ensure_session_writable(runtime: AgentRuntime, session_id: str, owner: str) -> None:
    """Refuse a turn on another owner's session; an unknown id starts a session of that id."""
    summary = await runtime.sessions.get(session_id)
    if summary is not None and summary.owner != owner:
        raise session_not_found(session_id)


# --------------------------------------------------------------------------------------------
# Per-session serialisation
# --------------------------------------------------------------------------------------------


@dataclass
class _LockEntry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class TurnLocks:
    """An `asyncio.Lock` per session id, created on demand and dropped when unused.

    `users` counts holders and waiters, so an entry is deleted only when nobody can still be
    queued on its lock (deleting it earlier would let a later request create a second lock
    for the same session and run beside the waiter).
    """

    def __init__(self) -> None:
        self._entries: dict[str, _LockEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def locked(self, session_id: str) -> bool:
        entry = self._entries.get(session_id)
        return entry is not None and entry.lock.locked()

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's lock for the body; waits (FIFO) while another turn runs."""
        entry = self._entries.get(session_id)
        if entry is None:
            entry = self._entries[session_id] = _LockEntry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(session_id) is entry:
                del self._entries[session_id]


def turn_locks(state: State) -> TurnLocks:
    """The app's lock registry (`app.state.turn_locks`), created on first use.

    No await between the check and the assignment, so two requests cannot create two
    registries on one event loop.
    """
    locks: TurnLocks | None = getattr(state, "turn_locks", None)
    if locks is None:
        locks = TurnLocks()
        state.turn_locks = locks
    return locks


# --------------------------------------------------------------------------------------------
# Running a turn
# --------------------------------------------------------------------------------------------


def thread_config(runtime: AgentRuntime, session_id: str, **extra: Any) -> RunnableConfig:
    """`runtime.run_config` typed as LangChain's `RunnableConfig`, with the run metadata of
    the request being served (its `request_id`, recorded by tracers with the run)."""
    config = runtime.run_config(session_id, **extra)
    metadata = run_metadata()
    if metadata:
        config["metadata"] = {**config.get("metadata", {}), **metadata}
    return config


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """One step of a streamed turn, independent of the wire format."""

    kind: Literal["tool_start", "tool_end", "token", "end"]
    data: dict[str, Any]


def turn_input(
    prompt: str, history: Sequence[BaseMessage] = ()
) -> tuple[dict[str, list[BaseMessage]], str]:
    """The graph input for `prompt`, and the id given to its first message.

    `history` (earlier messages a client holds and the thread lacks, e.g. the conversation an
    OpenAI-style client resends) goes in before the prompt, with fresh ids: it belongs to the
    turn, so a failed turn removes it too. The explicit id lets a failed turn be rolled back
    precisely: everything from this message on belongs to the turn.
    """
    messages: list[BaseMessage] = [
        message.model_copy(update={"id": uuid4().hex}) for message in history
    ]
    messages.append(HumanMessage(content=prompt, id=uuid4().hex))
    return {"messages": messages}, str(messages[0].id)


def final_answer_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the last assistant message (the answer of a finished run)."""
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return message.text
    return ""


async def run_turn(
    runtime: AgentRuntime,
    session_id: str,
    prompt: str,
    owner: str,
    *,
    history: Sequence[BaseMessage] = (),
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """Run one turn to completion and return the answer's text (rolled back on failure).

    `history`: see `turn_input`; `metadata`: tracing metadata of the run. Called under the
    session's turn lock, so the ownership check here cannot race another caller's first turn.
    """
    await ensure_session_writable(runtime, session_id, owner)
    graph_input, message_id = turn_input(prompt, history)
    config = thread_config(runtime, session_id, owner=owner)
    if metadata:
        config["metadata"] = {**config.get("metadata", {}), **metadata}
    async with rollback_on_failure(runtime, session_id, message_id):
        result = await runtime.graph.ainvoke(graph_input, config, durability=TURN_DURABILITY)
    return final_answer_text(result.get("messages", []))


async def stream_turn(
    runtime: AgentRuntime,
    session_id: str,
    prompt: str,
    owner: str,
    *,
    run_id: UUID | None = None,
    history: Sequence[BaseMessage] = (),
    metadata: Mapping[str, Any] | None = None,
) -> AsyncIterator[TurnEvent]:
    """Run one turn, yielding tool calls, answer tokens and finally the whole answer.

    Tokens are the text chunks of the agent node's model calls that carry no tool-call chunk.
    A model that writes text before deciding to call a tool (some hosted models do) streams
    that text too: `end.message` — the final answer as stored — is authoritative. If the
    model streamed nothing (a non-streaming provider, or the step-limit message that replaces
    a tool call), the answer is sent as one token so token-only clients still see it.
    Called under the session's turn lock; ownership is checked again here (see `run_turn`).
    """
    await ensure_session_writable(runtime, session_id, owner)
    graph_input, message_id = turn_input(prompt, history)
    config = thread_config(runtime, session_id, owner=owner)
    if run_id is not None:
        config["run_id"] = run_id
    if metadata:
        config["metadata"] = {**config.get("metadata", {}), **metadata}
    streamed: list[str] = []
    final_messages: list[AnyMessage] | None = None
    async with rollback_on_failure(runtime, session_id, message_id):
        events = runtime.graph.astream_events(
            graph_input, config, version="v2", durability=TURN_DURABILITY
        )
        async for event in events:
            kind = event["event"]
            if kind == "on_chat_model_stream":
                token = _answer_token(event)
                if token:
                    streamed.append(token)
                    yield TurnEvent("token", {"content": token})
            elif kind == "on_tool_start":
                yield TurnEvent("tool_start", {"name": event["name"], "input": _tool_input(event)})
            elif kind in ("on_tool_end", "on_tool_error"):
                # A tool that raised ends too (its error goes to the model as a tool message):
                # every `tool_start` gets its `tool_end`, so clients can close their indicator.
                yield TurnEvent("tool_end", {"name": event["name"]})
            elif kind == "on_chain_end" and not event.get("parent_ids"):
                output = event["data"].get("output")
                if isinstance(output, dict):
                    final_messages = list(output.get("messages", []))
        if final_messages is None:
            snapshot = await runtime.graph.aget_state(thread_config(runtime, session_id))
            final_messages = list(snapshot.values.get("messages", []))
    message = final_answer_text(final_messages)
    if message and not streamed:
        yield TurnEvent("token", {"content": message})
    yield TurnEvent("end", {"message": message, "session_id": session_id})


def _answer_token(event: Mapping[str, Any]) -> str:
    if event.get("metadata", {}).get("langgraph_node") != AGENT_NODE:
        return ""
    chunk = event.get("data", {}).get("chunk")
    if chunk is None or getattr(chunk, "tool_call_chunks", None):
        return ""
    text = getattr(chunk, "text", "")
    return text if isinstance(text, str) else ""


def _tool_input(event: Mapping[str, Any]) -> Any:
    """The tool's arguments as sent by the model (LangChain may wrap them with the call)."""
    raw = event.get("data", {}).get("input")
    if isinstance(raw, dict):
        return {k: v for k, v in raw.items() if k not in ("runtime", "config", "callbacks")}
    return raw


# --------------------------------------------------------------------------------------------
# Rollback of failed turns
# --------------------------------------------------------------------------------------------


@asynccontextmanager
async def rollback_on_failure(
    runtime: AgentRuntime, session_id: str, message_id: str
) -> AsyncIterator[None]:
    """Remove the turn that starts at `message_id` if the body raises or is cancelled.

    The rollback runs in its own task and is awaited (shielded, at most `ROLLBACK_TIMEOUT_S`)
    even when the caller is being cancelled (a client disconnect), so the next turn on the
    session — which waits for the session lock the caller still holds — finds the thread as it
    was before.
    """
    try:
        yield
    except BaseException:
        cleanup = asyncio.ensure_future(_rollback_turn(runtime, session_id, message_id))
        try:
            # The anyio shield covers callers inside a cancelled anyio scope (an SSE response
            # whose client left), where every await would be cancelled again at once.
            with anyio.CancelScope(shield=True):
                await asyncio.wait_for(asyncio.shield(cleanup), timeout=ROLLBACK_TIMEOUT_S)
        except asyncio.CancelledError:
            raise  # cancelled again (task.cancel()): the cleanup task finishes on its own
        except Exception:
            logger.warning(
                "rollback of a failed turn on session %s failed", session_id, exc_info=True
            )
        raise


async def _rollback_turn(runtime: AgentRuntime, session_id: str, message_id: str) -> None:
    graph = runtime.graph
    if runtime.checkpointer is None:
        return
    config = thread_config(runtime, session_id)
    snapshot = await graph.aget_state(config)
    messages: list[BaseMessage] = list(snapshot.values.get("messages", []))
    ids = [message.id for message in messages]
    if message_id not in ids:
        if not ids and await runtime.sessions.get(session_id) is not None:
            # A first turn that failed before anything was checkpointed (with durability
            # "exit" nothing is, until the run ends): only its session entry is left.
            await runtime.sessions.delete(session_id)
        return  # the failure came before the prompt was checkpointed
    start = ids.index(message_id)
    turn = messages[start:]
    if not snapshot.next and is_answer(turn[-1]):
        return  # the turn completed; only what came after it failed
    if start == 0 and not snapshot.values.get("archive"):
        await runtime.checkpointer.adelete_thread(session_id)
        await runtime.sessions.delete(session_id)
        logger.info("discarded the failed first turn of session %s", session_id)
        return
    removals = [RemoveMessage(id=str(message.id)) for message in turn if message.id]
    # Written as the tool node so the only edge taken is tools -> agent; the second update
    # then clears that pending step, leaving the thread idle after its last complete turn.
    await graph.aupdate_state(config, {"messages": removals}, as_node=TOOLS_NODE)
    await graph.aupdate_state(config, None, as_node=END)
    logger.info("rolled back an unfinished turn on session %s", session_id)


__all__ = ["history_from_messages", "history_from_state"]  # the session routes' view
