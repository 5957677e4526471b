"""An OpenAI-compatible chat API over the agent: `GET /v1/models`, `POST /v1/chat/completions`.

Any OpenAI client (the `openai` SDKs, LangChain's `ChatOpenAI`, Open WebUI, Chainlit...)
talks to the agent with `base_url=".../v1"` and the model id `cosmic-works-agent`.

* **Conversations are sessions.** The request header `X-Session-Id` names the session (the
  same sessions as `/ai` and `/session/*`); without it (or with the frontend's `"1234"`) a new
  session is created. Either way the response carries the id in its `X-Session-Id` header.
  The client's `messages` are reconciled with the stored thread so that no turn is stored
  twice (`app.openai_messages`: system messages ignored, only text, the trailing user
  message is the new turn, 409 `session_conflict` if the client's history contradicts the
  stored one).
* **Same turn rules as `/ai`** (`app.turns`): one turn at a time per session (the turn lock
  is held while the thread is read and the turn runs, so two calls on one session cannot both
  take the same history), and a failed or cancelled turn — a streaming client that
  disconnects — is rolled back with the history it brought in.
* **Streaming** (`"stream": true`): Server-Sent Events with OpenAI's `chat.completion.chunk`
  objects as `data:` lines — first a chunk with `delta.role = "assistant"`, then one chunk
  per answer token (`delta.content`), then a chunk with `finish_reason: "stop"` and an empty
  delta, then `data: [DONE]`. A failure once the stream has started arrives as
  `data: {"error": {...}}` (the OpenAI SDK raises it as `APIError`), followed by
  `data: [DONE]`. Comment lines (`: ping`) keep idle connections open while tools run.
  Answer tokens are the model's text; a model that writes text before calling a tool streams
  that text too (as `/ai/stream` does).
* **Errors** use OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, on these
  routes only (the route class below converts them; the rest of the app keeps
  `{"error": {"code", "message"}}`): 400 `invalid_request` for a bad body (`param` names the
  field), 404 `model_not_found` / `session_not_found`, 409 `session_conflict`, 503/504/502
  for the store, conversation store or model (same codes as `/ai`). Authentication follows
  the service's rule (`Authorization: Bearer <key>`, which the SDK sends from `api_key`).
* **Not supported** (refused with 400 rather than ignored): `n > 1`, client `tools` /
  `functions`, non-text `response_format`, image/audio content. Sampling options
  (`temperature`, `max_tokens`...) are accepted and ignored. `usage` is not reported.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Annotated, Any
from uuid import uuid4

import anyio
import orjson
from fastapi import APIRouter, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.deps import OwnerDep, RuntimeDep
from app.errors import ApiError, classify_exception
from app.openai_messages import (
    MODEL_ID,
    ChatCompletionRequest,
    Conversation,
    OpenAIRequestError,
    check_options,
    parse_conversation,
    reconcile,
)
from app.schemas import MAX_PROMPT_CHARS, SESSION_ID_PATTERN
from app.turns import (
    ROLLBACK_TIMEOUT_S,
    TurnLocks,
    ensure_session_writable,
    history_from_state,
    resolve_session_id,
    run_turn,
    stream_turn,
    thread_config,
    turn_locks,
)
from graphs.runtime import AgentRuntime

logger = logging.getLogger(__name__)

SESSION_HEADER = "X-Session-Id"
PING_INTERVAL_S = 15
MODEL_CREATED = 1735689600  # 2025-01-01T00:00:00Z: a fixed date, so the listing is stable
OWNED_BY = "cosmic-works"
DONE = "[DONE]"
SSE_SEP = "\n"  # OpenAI's own line ending; some clients split events on "\n\n" only
_SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)

_QueueItem = ServerSentEvent | None


# --------------------------------------------------------------------------------------------
# Errors in OpenAI's shape, for these routes only
# --------------------------------------------------------------------------------------------


def _error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error_body(
    message: str, *, status: int, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": _error_type(status), "param": param, "code": code}
    }


def _validation_error(exc: RequestValidationError) -> OpenAIRequestError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return OpenAIRequestError(
            400, "The request body must be a JSON object.", code="invalid_request"
        )
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = str(first.get("msg", "invalid value"))
    return OpenAIRequestError(
        400, f"{param}: {message}" if param else message, param=param, code="invalid_request"
    )


def openai_error_response(exc: Exception, request: Request) -> JSONResponse:
    """Render any exception raised by these routes as an OpenAI error response."""
    headers: dict[str, str] = {}
    if isinstance(exc, RequestValidationError):
        exc = _validation_error(exc)
    if isinstance(exc, OpenAIRequestError):
        status, message, code, param = exc.status, exc.message, exc.code, exc.param
    elif isinstance(exc, StarletteHTTPException):
        status, param = exc.status_code, None
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        code = "payload_too_large" if status == 413 else None
        headers.update(getattr(exc, "headers", None) or {})
    else:
        error: ApiError = classify_exception(exc)
        status, message, code = error.status, error.message, error.code
        field = error.extra.get("field")
        param = field if isinstance(field, str) else None
        headers.update(error.headers)
        if status >= 500:
            logger.error(
                "request failed: %s %s -> %s %s: %s",
                request.method,
                request.url.path,
                status,
                code,
                type(exc).__name__,
                exc_info=code == "internal_error",
            )
    if status == 409:
        headers["x-should-retry"] = "false"  # the OpenAI SDKs retry 409s by default
    return JSONResponse(
        openai_error_body(message, status=status, code=code, param=param),
        status_code=status,
        headers=headers or None,
    )


class OpenAIRoute(APIRoute):
    """An `APIRoute` whose failures — validation, ours, the framework's — use OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def openai_route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return openai_error_response(exc, request)

        return openai_route_handler


router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


def _error_example(message: str, code: str, param: str | None = None) -> dict[str, Any]:
    status = 400 if code == "invalid_request" else 404
    body = openai_error_body(message, status=status, code=code, param=param)
    return {"application/json": {"example": body}}


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "Invalid request: `param` names the field",
        "content": _error_example(
            "messages: the last message must be the user's", "invalid_request", "messages"
        ),
    },
    404: {
        "description": "Unknown model, or a session of another caller",
        "content": _error_example(
            "The model 'gpt-4o' does not exist; this server serves 'cosmic-works-agent' "
            "(see GET /v1/models).",
            "model_not_found",
            "model",
        ),
    },
    409: {
        "description": "The messages contradict the session's stored history",
        "content": {
            "application/json": {
                "example": openai_error_body(
                    "messages: the conversation does not match session 'abc', which holds "
                    "2 earlier turn(s) (the client sent 1). ...",
                    status=409,
                    code="session_conflict",
                    param="messages",
                )
            }
        },
    },
}


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def _model_object() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": MODEL_CREATED, "owned_by": OWNED_BY}


@router.get("/models", summary="List the models (one: the agent)")
async def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [_model_object()]}


@router.get("/models/{model_id}", summary="Retrieve a model", responses=_ERROR_RESPONSES)
async def retrieve_model(model_id: str) -> dict[str, Any]:
    if model_id != MODEL_ID:
        raise OpenAIRequestError(
            404, f"The model '{model_id}' does not exist.", param="model", code="model_not_found"
        )
    return _model_object()


# --------------------------------------------------------------------------------------------
# Chat completions
# --------------------------------------------------------------------------------------------

_STREAM_EXAMPLE = (
    'data: {"id":"chatcmpl-1f0c","object":"chat.completion.chunk","created":1735689600,'
    '"model":"cosmic-works-agent","choices":[{"index":0,"delta":{"role":"assistant",'
    '"content":""},"logprobs":null,"finish_reason":null}]}\n\n'
    'data: {"id":"chatcmpl-1f0c","object":"chat.completion.chunk","created":1735689600,'
    '"model":"cosmic-works-agent","choices":[{"index":0,"delta":{"content":"The HL Road '
    'Frame - Black, 58 costs $1431.50."},"logprobs":null,"finish_reason":null}]}\n\n'
    'data: {"id":"chatcmpl-1f0c","object":"chat.completion.chunk","created":1735689600,'
    '"model":"cosmic-works-agent","choices":[{"index":0,"delta":{},"logprobs":null,'
    '"finish_reason":"stop"}]}\n\n'
    "data: [DONE]\n\n"
)

_COMPLETION_EXAMPLE = {
    "id": "chatcmpl-1f0c",
    "object": "chat.completion",
    "created": 1735689600,
    "model": MODEL_ID,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The HL Road Frame - Black, 58 (sku FR-R92B-58, Components, Road "
                "Frames) costs $1431.50.",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
}


def _max_prompt_chars(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    value = getattr(settings, "max_prompt_chars", MAX_PROMPT_CHARS)
    return value if isinstance(value, int) else MAX_PROMPT_CHARS


def _session(header: str | None) -> tuple[str, bool]:
    session_id, is_new = resolve_session_id(header)
    if not is_new and not _SESSION_ID_RE.fullmatch(session_id):
        raise OpenAIRequestError(
            400,
            f"{SESSION_HEADER}: letters, digits and '_.:-', starting with a letter or digit, "
            "at most 128 characters",
            param=SESSION_HEADER,
            code="invalid_request",
        )
    return session_id, is_new


async def _messages_to_add(
    runtime: AgentRuntime, session_id: str, conversation: Conversation, is_new: bool
) -> list[Any]:
    """Reconcile the client's history with the thread (read it unless the session is new)."""
    stored: list[dict[str, str]] = []
    if not is_new:
        snapshot = await runtime.graph.aget_state(thread_config(runtime, session_id))
        stored = history_from_state(snapshot.values)
    return reconcile(conversation, stored, session_id)


@router.post(
    "/chat/completions",
    summary="Chat with the agent (OpenAI chat-completions compatible)",
    description=(
        "One turn of the conversation in `X-Session-Id` (a new session without it; the "
        "response's `X-Session-Id` header carries the id). The full `messages` list is "
        "reconciled with the stored session: system messages are ignored, the trailing user "
        "message is the new turn, earlier turns already stored are not stored again. "
        '`"stream": true` answers with Server-Sent Events of `chat.completion.chunk` objects '
        "ending with `data: [DONE]`."
    ),
    responses={
        200: {
            "description": "A chat completion, or an event stream of chunks",
            "headers": {SESSION_HEADER: {"description": "The session of this conversation"}},
            "content": {
                "application/json": {"example": _COMPLETION_EXAMPLE},
                "text/event-stream": {"example": _STREAM_EXAMPLE},
            },
        },
        **_ERROR_RESPONSES,
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    runtime: RuntimeDep,
    owner: OwnerDep,
    x_session_id: Annotated[
        str | None,
        Header(
            alias=SESSION_HEADER,
            description='The session to continue; omit it (or send "1234") for a new one.',
        ),
    ] = None,
) -> Response:
    check_options(body)
    conversation = parse_conversation(body.messages, _max_prompt_chars(request))
    session_id, is_new = _session(x_session_id)
    if not is_new:
        await ensure_session_writable(runtime, session_id, owner)
    metadata = {"openai_user": body.user} if body.user else None
    completion_id = f"chatcmpl-{uuid4().hex}"
    created = int(time.time())
    headers = {SESSION_HEADER: session_id}
    locks = turn_locks(request.app.state)

    if body.stream:
        # Checked before the stream starts, so a conflict is a plain 409; checked again under
        # the turn lock by the streaming task (another call may have run a turn meanwhile).
        await _messages_to_add(runtime, session_id, conversation, is_new)
        stream = _CompletionStream(
            runtime, locks, session_id, is_new, conversation, owner, metadata, completion_id,
            created,
        )  # fmt: skip
        return EventSourceResponse(
            stream.events(), ping=PING_INTERVAL_S, sep=SSE_SEP, headers=headers
        )

    async with locks.hold(session_id):
        history = await _messages_to_add(runtime, session_id, conversation, is_new)
        answer = await run_turn(
            runtime, session_id, conversation.prompt, owner, history=history, metadata=metadata
        )
    completion = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    return JSONResponse(completion, headers=headers)


class _CompletionStream:
    """The SSE events of one streamed completion; the turn runs in its own task.

    As on `/ai/stream`: the graph runs in a task feeding a queue, so that a client leaving
    (sse-starlette cancels the events generator) cancels the task and waits — shielded — for
    its rollback before the connection is released.
    """

    def __init__(
        self,
        runtime: AgentRuntime,
        locks: TurnLocks,
        session_id: str,
        is_new: bool,
        conversation: Conversation,
        owner: str,
        metadata: Mapping[str, Any] | None,
        completion_id: str,
        created: int,
    ) -> None:
        self.runtime = runtime
        self.locks = locks
        self.session_id = session_id
        self.is_new = is_new
        self.conversation = conversation
        self.owner = owner
        self.metadata = metadata
        self.completion_id = completion_id
        self.created = created

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> ServerSentEvent:
        payload = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL_ID,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        return _event(orjson.dumps(payload).decode())

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        yield self.chunk({"role": "assistant", "content": ""})
        queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
        task = asyncio.create_task(self._run(queue), name=f"openai-turn:{self.session_id}")
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            if not task.done():
                task.cancel()
                logger.info("stream of session %s closed early: turn cancelled", self.session_id)
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task}, timeout=ROLLBACK_TIMEOUT_S + 5)

    async def _run(self, queue: asyncio.Queue[_QueueItem]) -> None:
        try:
            async with self.locks.hold(self.session_id):
                history = await _messages_to_add(
                    self.runtime, self.session_id, self.conversation, self.is_new
                )
                async for event in stream_turn(
                    self.runtime,
                    self.session_id,
                    self.conversation.prompt,
                    self.owner,
                    history=history,
                    metadata=self.metadata,
                ):
                    if event.kind == "token":
                        queue.put_nowait(self.chunk({"content": event.data["content"]}))
                    elif event.kind == "end":
                        queue.put_nowait(self.chunk({}, finish_reason="stop"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            queue.put_nowait(self._error_event(exc))
        finally:
            queue.put_nowait(_event(DONE))
            queue.put_nowait(None)

    def _error_event(self, exc: Exception) -> ServerSentEvent:
        if isinstance(exc, OpenAIRequestError):
            status, message, code, param = exc.status, exc.message, exc.code, exc.param
        else:
            error = classify_exception(exc)
            status, message, code, param = error.status, error.message, error.code, None
            if status >= 500:
                logger.error(
                    "streamed completion on session %s failed -> %s %s: %s",
                    self.session_id,
                    status,
                    code,
                    type(exc).__name__,
                    exc_info=code == "internal_error",
                )
        body = openai_error_body(message, status=status, code=code, param=param)
        return _event(orjson.dumps(body).decode())


def _event(data: str) -> ServerSentEvent:
    return ServerSentEvent(data=data, sep=SSE_SEP)
