"""`POST /ai` (the original frontend's JSON route) and `POST /ai/stream` (Server-Sent Events).

Both run one turn through `app.turns`: same session-id rules, same per-session lock, same
rollback of unfinished turns. The stream runs the graph in its own task, fed to the response
through a queue: when the client disconnects, sse-starlette cancels the response's generator,
whose `finally` cancels that task and waits (shielded) until the rollback is done, so the
session never keeps half a turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import anyio
import orjson
from fastapi import APIRouter, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.deps import OwnerDep, RuntimeDep
from app.errors import ApiError, classify_exception
from app.schemas import AiRequest, AiResponse
from app.turns import (
    ROLLBACK_TIMEOUT_S,
    TurnLocks,
    ensure_session_writable,
    resolve_session_id,
    run_turn,
    stream_turn,
    turn_locks,
)
from graphs.runtime import AgentRuntime

logger = logging.getLogger(__name__)

router = APIRouter(tags=["chat"])

PING_INTERVAL_S = 15
"""Keep-alive comment interval: proxies close idle connections while tools or models think."""

STREAM_DRAIN_S = 10.0
"""On server shutdown (SIGTERM), how long a streamed turn already running may still take: it
usually finishes and its stream ends with `end` as always. Past this, the turn is cancelled
and rolled back, and the stream ends with an `error` event `shutting_down` instead of being
cut. Drain + rollback must stay below uvicorn's `--timeout-graceful-shutdown` (the image
sets 25 s through `UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN`)."""

SHUTDOWN_MESSAGE = (
    "The server is restarting: this question was not answered and nothing of it was saved. "
    "Ask again in a moment."
)

_QueueItem = ServerSentEvent | None


def _error_example(code: str, message: str) -> dict[str, Any]:
    return {"application/json": {"example": {"error": {"code": code, "message": message}}}}


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "The session belongs to another caller",
        "content": _error_example("session_not_found", "No session 'abc123'."),
    },
    422: {
        "description": "Invalid body: the field is named in `error.field`",
        "content": {
            "application/json": {
                "example": {
                    "error": {
                        "code": "invalid_request",
                        "message": "prompt: String should have at least 1 character",
                        "field": "prompt",
                    }
                }
            }
        },
    },
    503: {
        "description": "A dependency (store, conversation store, model) is unavailable",
        "content": _error_example(
            "model_rate_limited",
            "The Azure OpenAI model deployment 'completions' is rate limiting requests "
            "(HTTP 429); try again shortly.",
        ),
    },
    504: {
        "description": "The model did not answer in time",
        "content": _error_example(
            "model_timeout",
            "The Azure OpenAI model deployment 'completions' did not answer within 60 s.",
        ),
    },
}

_STREAM_EXAMPLE = (
    "event: metadata\r\n"
    'data: {"session_id":"0f8c6c1e9b7a4e3f9a1d2c3b4a5f6e7d",'
    '"run_id":"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"}\r\n\r\n'
    "event: tool_start\r\n"
    'data: {"name":"get_product_by_sku","input":{"sku":"FR-R92B-58"}}\r\n\r\n'
    "event: tool_end\r\n"
    'data: {"name":"get_product_by_sku"}\r\n\r\n'
    "event: token\r\n"
    'data: {"content":"The"}\r\n\r\n'
    "event: token\r\n"
    'data: {"content":" HL Road Frame - Black, 58 costs $1431.50."}\r\n\r\n'
    "event: end\r\n"
    'data: {"message":"The HL Road Frame - Black, 58 costs $1431.50.",'
    '"session_id":"0f8c6c1e9b7a4e3f9a1d2c3b4a5f6e7d"}\r\n\r\n'
)

_STREAM_DESCRIPTION = """\
The same turn as `POST /ai`, as Server-Sent Events. Each event's `data` is JSON:

* `metadata` `{"session_id", "run_id"}` — always first; keep `session_id` for the next turn.
* `tool_start` `{"name", "input"}` / `tool_end` `{"name"}` — the agent looks something up.
* `token` `{"content"}` — the next piece of the answer's text.
* `end` `{"message", "session_id"}` — the whole answer (authoritative); the stream closes.
* `error` `{"code", "message"}` — sent instead of `end` when the turn fails (nothing of the
  turn is stored then).

Comment lines (`: ping ...`) keep the connection alive. Closing the connection cancels the
turn; nothing of it is stored. Turns on one session run one at a time: a second request waits.
"""


@router.post(
    "/ai",
    response_model=AiResponse,
    summary="Ask the assistant (original lab contract)",
    description=(
        'Runs one turn. `session_id` `"1234"` or none starts a new session; the response '
        "carries the id to send with the next turn. Turns on one session run one at a time."
    ),
    responses=_ERROR_RESPONSES,
)
async def ai(
    body: AiRequest,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    owner: OwnerDep,
) -> AiResponse:
    session_id, is_new = resolve_session_id(body.session_id)
    if not is_new:
        await ensure_session_writable(runtime, session_id, owner)
    async with turn_locks(request.app.state).hold(session_id):
        message = await run_turn(runtime, session_id, body.prompt, owner)
    response.headers["X-Session-Id"] = session_id
    return AiResponse(message=message, session_id=session_id)


@router.post(
    "/ai/stream",
    summary="Ask the assistant, streaming the answer (Server-Sent Events)",
    description=_STREAM_DESCRIPTION,
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "An event stream",
            "content": {"text/event-stream": {"example": _STREAM_EXAMPLE}},
        },
        **_ERROR_RESPONSES,
    },
)
async def ai_stream(
    body: AiRequest,
    request: Request,
    runtime: RuntimeDep,
    owner: OwnerDep,
) -> EventSourceResponse:
    session_id, is_new = resolve_session_id(body.session_id)
    if not is_new:
        await ensure_session_writable(runtime, session_id, owner)
    shutdown = anyio.Event()  # set by sse-starlette when the server starts shutting down
    events = _turn_events(
        runtime, turn_locks(request.app.state), session_id, body.prompt, owner, uuid4(), shutdown
    )
    return EventSourceResponse(
        events,
        ping=PING_INTERVAL_S,
        headers={"X-Session-Id": session_id},
        shutdown_event=shutdown,
        shutdown_grace_period=STREAM_DRAIN_S + ROLLBACK_TIMEOUT_S + 2,
    )


def _sse(event: str, data: dict[str, Any]) -> ServerSentEvent:
    payload = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return ServerSentEvent(data=payload, event=event)


async def _turn_events(
    runtime: AgentRuntime,
    locks: TurnLocks,
    session_id: str,
    prompt: str,
    owner: str,
    run_id: UUID,
    shutdown: anyio.Event | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """`metadata`, then the turn's events as the graph task produces them.

    Leaving early (disconnect, send failure) cancels the graph task and waits for its
    rollback, shielded from the cancellation that brought us here. On `shutdown` the turn gets
    `STREAM_DRAIN_S` to finish; then it is cancelled (and rolled back) and the stream ends
    with an `error` event `shutting_down`.
    """
    yield _sse("metadata", {"session_id": session_id, "run_id": str(run_id)})
    queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
    task = asyncio.create_task(
        _run_graph(runtime, locks, session_id, prompt, owner, run_id, queue),
        name=f"turn:{session_id}",
    )
    drained = asyncio.ensure_future(_drain_window(shutdown, session_id))
    getter: asyncio.Future[_QueueItem] | None = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, drained}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                item = getter.result()
                if item is None:
                    return
                yield item
                continue
            task.cancel()  # the drain window is over
            logger.warning("shutdown: turn on session %s cancelled after the drain", session_id)
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task}, timeout=ROLLBACK_TIMEOUT_S + 5)
            yield _sse("error", {"code": "shutting_down", "message": SHUTDOWN_MESSAGE})
            return
    finally:
        drained.cancel()
        if getter is not None:
            getter.cancel()
        if not task.done():
            task.cancel()
            logger.info("stream of session %s closed early: turn cancelled", session_id)
        with anyio.CancelScope(shield=True):
            await asyncio.wait({task}, timeout=ROLLBACK_TIMEOUT_S + 5)


async def _drain_window(shutdown: anyio.Event | None, session_id: str) -> None:
    """Returns `STREAM_DRAIN_S` after the shutdown signal; never without one."""
    if shutdown is None:
        await asyncio.Event().wait()
        return
    await shutdown.wait()
    logger.info("shutdown: draining the stream of session %s", session_id)
    await asyncio.sleep(STREAM_DRAIN_S)


async def _run_graph(
    runtime: AgentRuntime,
    locks: TurnLocks,
    session_id: str,
    prompt: str,
    owner: str,
    run_id: UUID,
    queue: asyncio.Queue[_QueueItem],
) -> None:
    """Run the turn under the session lock, turning its events (or its failure) into SSE."""
    try:
        async with locks.hold(session_id):
            async for event in stream_turn(runtime, session_id, prompt, owner, run_id=run_id):
                queue.put_nowait(_sse(event.kind, event.data))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = _classified(exc, session_id)
        queue.put_nowait(_sse("error", {"code": error.code, "message": error.message}))
    finally:
        queue.put_nowait(None)


def _classified(exc: Exception, session_id: str) -> ApiError:
    """The client-safe error for a failed streamed turn, logged like the JSON routes do."""
    error = classify_exception(exc)
    if error.status >= 500:
        logger.error(
            "streamed turn on session %s failed -> %s %s: %s",
            session_id,
            error.status,
            error.code,
            type(exc).__name__,
            exc_info=error.code == "internal_error",
        )
    return error
