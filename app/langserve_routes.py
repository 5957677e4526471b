"""The agent graph through LangServe under `/agent`: invoke, batch, stream, stream_log,
stream_events, input/output/config schemas and the playground.

Design (each point answers a trap of this stack; see DESIGN.md):

* **Lazy runnable.** Routes are added when the app is created, but the compiled graph only
  exists once the lifespan has built the runtime. `LazyAgentGraph` is the runnable LangServe
  serves: it declares stable schemas of its own and resolves `app.state.runtime.graph` on every
  call, forwarding `ainvoke`, `abatch`, `astream`, `astream_log` and `astream_events` to the
  graph unchanged (so the graph is the root run and its events are the graph's). Before the
  lifespan ran (or after it ended) every run endpoint answers 503 `starting`; the schema and
  playground endpoints work regardless.
* **Thread id is a declared configurable field.** LangServe validates the client's `config`
  against the served runnable's config schema and silently drops undeclared `configurable`
  keys, so `LazyAgentGraph.config_specs` declares `thread_id` (a string matching
  `SESSION_ID_PATTERN`). Each request or batch item carries its own
  `{"configurable": {"thread_id": ...}}` to the checkpointer. A run without a thread id is
  refused with 422 naming `configurable.thread_id` (we do not invent one: the caller could not
  find the conversation again). Two items of one batch on the same thread are refused too (they
  would race on one checkpoint).
* **Server-owned config.** An async `per_req_config_modifier` (run per request and per batch
  item, before any response starts) sets `configurable.owner` from `request.state.principal`
  ("" in open mode), drops any client-sent reserved key (`owner`, `checkpoint_id`,
  `checkpoint_ns`, `checkpoint_map`, `__pregel_*`, any `__*`; undeclared keys are already
  dropped by LangServe) and refuses a thread owned by another principal with 404
  `session_not_found`, as `/ai` does. `recursion_limit` comes from settings.
* **Same turn rules as `/ai`** (`app.turns`): a run holds its thread's turn lock (two runs on one
  thread, from `/agent` or `/ai`, take turns instead of interleaving their messages); a run that
  fails or is cancelled is rolled back, so no half turn stays in the thread; input messages get
  fresh server-side ids, so a run only appends (a client id cannot replace an earlier message).
  Every turn is recorded in the session index by the graph, so `/agent` threads show up in
  `GET /session/list`.
* **Input validated first.** A router dependency checks every run request before LangServe and
  LangGraph see it and answers 422 in our error shape: `input` must be `{"messages": [...]}`
  with 1..50 LangChain message dicts, each `{"type": "human" | "ai", "content": ...}`, the last
  one `human` (a run is a user turn; history lives in the checkpointer), a human message
  holding 1..`COSMIC_WORKS_MAX_PROMPT_CHARS` (4000) characters as on `/ai`. OpenAI-style
  `{"role": "user", ...}` dicts are **not** accepted here (the 422 says which shape to send):
  the served schema stays LangChain's, which `RemoteRunnable` and the playground speak; plain
  JSON clients have `POST /ai`. `system` messages are refused (the server owns the prompt), as
  are `tool` messages and AI messages carrying tool calls (unpaired calls break providers). A
  batch holds at most `COSMIC_WORKS_MAX_BATCH` (16) inputs (413 beyond).
* **Streaming.** `/agent/stream` yields graph *state updates* per node (LangGraph's default
  `updates` mode: `{"agent": {"messages": [AIMessage]}}`, `{"tools": {"messages": [...]}}`),
  not tokens. Tokens come from `/agent/stream_events` (`on_chat_model_stream` events, whose
  `data.chunk` is an `AIMessageChunk`). `/agent/stream_log` streams JSON-patch run logs; note
  that LangServe 0.3.3's `RemoteRunnable.astream_log` cannot decode the log entry of a tool
  run (an entry with `"type": "tool"` is taken for a ToolMessage): clients pass
  `exclude_types=["tool"]` or use `astream_events`.
* **Errors.** Errors before a response starts (validation, 503, a failure of `invoke` or
  `batch` such as the store or the model being down) come back as `{"error": {"code",
  "message"}}` through `app.errors`. Inside an SSE stream the response has already started, so
  the failure arrives as LangServe's `error` event; we rewrite its data to
  `{"status_code", "message", "error": {"code", "message"}}` (still readable by
  `RemoteRunnable`, which reads `status_code` and `message`), end the stream cleanly and log
  the exception instead of letting a stack trace reach the server's error log twice.
* **Playground.** LangServe's chat playground needs an output that is a message or a string;
  this graph outputs its state (`{"messages": [...]}`), so the **default** playground is served
  at `GET /agent/playground/` (it renders the messages widget and a config form with the thread
  id).
* **Router, not app.** `add_routes(FastAPI_app, ...)` registers a deprecated `on_startup` hook
  (a banner) that makes the app un-mountable under `langgraph dev` ("Cannot merge lifespans
  with on_startup or on_shutdown"); on an `APIRouter` it registers none, so the routes go on a
  router that the app includes, and `app.router.on_startup` stays empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast
from uuid import uuid4

from fastapi import APIRouter, Depends, FastAPI, Request
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import get_config_list
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
)
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import owner_of
from app.errors import ApiError, classify_exception
from app.logging import run_metadata
from app.schemas import MAX_PROMPT_CHARS, SESSION_ID_PATTERN
from app.turns import ensure_session_writable, rollback_on_failure, turn_locks
from graphs.runtime import TURN_DURABILITY, AgentRuntime

logger = logging.getLogger(__name__)

AGENT_PATH = "/agent"
MAX_BATCH_INPUTS = 16  # the default of COSMIC_WORKS_MAX_BATCH
MAX_INPUT_MESSAGES = 50
ACCEPTED_MESSAGE_TYPES = ("human", "ai")
RUN_ENDPOINTS = frozenset({"invoke", "batch", "stream", "stream_log", "stream_events"})
STREAM_ENDPOINTS = frozenset({"stream", "stream_log", "stream_events"})
RESERVED_CONFIGURABLE_KEYS = frozenset(
    {"owner", "checkpoint_id", "checkpoint_ns", "checkpoint_map"}
)
_SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)

ThreadId = Annotated[str, StringConstraints(pattern=SESSION_ID_PATTERN)]

THREAD_ID_SPEC = ConfigurableFieldSpec(
    id="thread_id",
    annotation=ThreadId,
    name="Thread ID",
    description=(
        "Conversation id (required): the checkpointer keeps one conversation per thread id; "
        "reuse it for follow-up turns. Letters, digits and `_.:-`, at most 128 characters."
    ),
    default=None,
)


# --------------------------------------------------------------------------------------------
# Schemas served by LangServe (stable: they do not need the runtime)
# --------------------------------------------------------------------------------------------


def _message_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        tag = value.get("type")
        return tag if isinstance(tag, str) else None
    tag = getattr(value, "type", None)
    return tag if isinstance(tag, str) else None


InputMessage = Annotated[
    Annotated[HumanMessage, Tag("human")] | Annotated[AIMessage, Tag("ai")],
    Discriminator(_message_tag),
]


class AgentInput(BaseModel):
    """A user turn: the new messages appended to the thread, the last one from the user."""

    model_config = ConfigDict(
        extra="forbid",
        title="CosmicWorksAgentInput",
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {
                            "type": "human",
                            "content": "What was the price of the product with sku `FR-R92B-58`?",
                        }
                    ]
                }
            ]
        },
    )

    messages: list[InputMessage] = Field(
        min_length=1,
        max_length=MAX_INPUT_MESSAGES,
        description=(
            'LangChain message dicts such as {"type": "human", "content": "..."}; the thread\'s '
            "earlier messages come from the checkpointer, so send only the new turn."
        ),
    )


class AgentOutput(BaseModel):
    """The thread's state after the run: every message of the conversation, in order."""

    model_config = ConfigDict(title="CosmicWorksAgentOutput")

    messages: list[AnyMessage]


_MESSAGES_ADAPTER: TypeAdapter[list[Any]] = TypeAdapter(list[InputMessage])


# --------------------------------------------------------------------------------------------
# Validation helpers (raise ApiError, which app.errors renders as our JSON shape)
# --------------------------------------------------------------------------------------------


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(422, "invalid_request", f"{field}: {message}", extra={"field": field})


def _text_length(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    total = 0
    for block in content if isinstance(content, list) else ():
        if isinstance(block, str):
            total += len(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            total += len(block["text"])
    return total


MAX_JSON_DEPTH = 64
_JSON_INT_RANGE = (-(2**63), 2**64 - 1)


def check_json_values(value: Any, where: str = "", depth: int = 0) -> None:
    """422 for JSON values LangServe cannot serialize back: integers beyond 64 bits and
    nesting deeper than `MAX_JSON_DEPTH` (its serializer, orjson, refuses both). Streams echo
    the input, so such a body used to fail with an internal error (found by fuzzing)."""
    if depth > MAX_JSON_DEPTH:
        raise _invalid(f"nested deeper than {MAX_JSON_DEPTH} levels", where or "body")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not _JSON_INT_RANGE[0] <= value <= _JSON_INT_RANGE[1]:
            raise _invalid("integers must fit in 64 bits", where or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_values(item, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_values(item, f"{where}.{index}" if where else str(index), depth + 1)


def validate_agent_input(
    value: Any, where: str = "input", max_prompt_chars: int = MAX_PROMPT_CHARS
) -> None:
    """Check one run input (`{"messages": [...]}`); raise a 422 `ApiError` naming the field."""
    if not isinstance(value, dict):
        raise _invalid(
            'must be an object like {"messages": [{"type": "human", "content": "..."}]}', where
        )
    unknown = sorted(str(key) for key in value if key != "messages")
    if unknown:
        raise _invalid(f"unknown key(s) {', '.join(unknown)}; only 'messages' is accepted", where)
    messages = value.get("messages")
    field = f"{where}.messages"
    if not isinstance(messages, list):
        raise _invalid("required, a list of message objects", field)
    if not messages:
        raise _invalid("must hold at least one message", field)
    if len(messages) > MAX_INPUT_MESSAGES:
        raise _invalid(f"at most {MAX_INPUT_MESSAGES} messages per run", field)
    for index, message in enumerate(messages):
        item = f"{field}.{index}"
        if not isinstance(message, dict):
            raise _invalid('must be an object like {"type": "human", "content": "..."}', item)
        kind = message.get("type")
        if kind is None and "role" in message:
            raise _invalid(
                'role-style messages are not accepted here; send {"type": "human", '
                '"content": "..."} (or use POST /ai for plain JSON)',
                item,
            )
        if kind not in ACCEPTED_MESSAGE_TYPES:
            raise _invalid(
                f"type must be one of {', '.join(repr(t) for t in ACCEPTED_MESSAGE_TYPES)}, "
                f"not {kind!r}",
                f"{item}.type",
            )
        if "content" not in message:
            raise _invalid("required", f"{item}.content")
    try:
        parsed = _MESSAGES_ADAPTER.validate_python(messages)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(
            str(part) for part in first.get("loc", ()) if part not in ACCEPTED_MESSAGE_TYPES
        )
        raise _invalid(str(first.get("msg", "invalid value")), f"{field}.{location}") from None
    except (TypeError, ValueError):
        # LangChain's own validators raise these, e.g. for an unknown key in an
        # `invalid_tool_calls` item (found by fuzzing: it was a 500).
        raise _invalid("not a valid LangChain message", field) from None
    for index, message in enumerate(parsed):
        item = f"{field}.{index}"
        if isinstance(message, AIMessage) and message.tool_calls:
            raise _invalid("AI messages with tool calls are not accepted", f"{item}.tool_calls")
        if isinstance(message, AIMessage) and message.invalid_tool_calls:
            # Providers get these back as tool calls too (langchain-openai sends them as
            # `tool_calls`), unpaired: refused like `tool_calls`.
            raise _invalid(
                "AI messages with tool calls are not accepted", f"{item}.invalid_tool_calls"
            )
        if isinstance(message, HumanMessage):
            length = _text_length(message.content)
            if length == 0:
                raise _invalid("must not be empty", f"{item}.content")
            if length > max_prompt_chars:
                raise _invalid(f"at most {max_prompt_chars} characters", f"{item}.content")
    if not isinstance(parsed[-1], HumanMessage):
        raise _invalid("the last message must be the user's (type 'human')", field)


def check_thread_id(configurable: Any) -> str:
    """The validated thread id of a run's `configurable`; 422 naming the field otherwise."""
    field = "configurable.thread_id"
    thread_id = configurable.get("thread_id") if isinstance(configurable, dict) else None
    if thread_id is None or thread_id == "":
        raise ApiError(
            422,
            "invalid_request",
            f'{field} is required: send {{"config": {{"configurable": {{"thread_id": "..."}}}}}}'
            " and reuse the id for follow-up turns",
            extra={"field": field},
        )
    if not isinstance(thread_id, str) or not _SESSION_ID_RE.fullmatch(thread_id):
        raise _invalid(
            "letters, digits and '_.:-', starting with a letter or digit, at most 128 chars",
            field,
        )
    return thread_id


def server_configurable(configurable: Any, owner: str) -> dict[str, Any]:
    """The client's `configurable` without reserved keys, with the server's `owner`."""
    clean = {
        str(key): value
        for key, value in (configurable.items() if isinstance(configurable, dict) else ())
        if key not in RESERVED_CONFIGURABLE_KEYS and not str(key).startswith("__")
    }
    clean["owner"] = owner
    return clean


# --------------------------------------------------------------------------------------------
# The runnable served by LangServe
# --------------------------------------------------------------------------------------------


class LazyAgentGraph(Runnable[dict[str, Any], dict[str, Any]]):
    """Serves the runtime's compiled graph, resolved at call time, with stable schemas.

    `state` is the app's `State`: `state.runtime` is the `AgentRuntime` built by the lifespan
    (None while starting or stopping: every run then raises a 503 `ApiError`). Each run holds
    the session's turn lock shared with `/ai` (one turn at a time per thread) and is rolled
    back if it fails or is cancelled, as `/ai` turns are (`app.turns`). Input messages get
    fresh server-side ids, so a run only appends to its thread. The graph is async-only (its
    checkpointer is), so the sync entry points refuse.
    """

    name = "cosmic_works_agent"

    def __init__(self, state: State) -> None:
        self._state = state

    # -- schemas ------------------------------------------------------------------------------

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return AgentInput

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return AgentOutput

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return [THREAD_ID_SPEC]

    # -- resolution ---------------------------------------------------------------------------

    def _runtime(self) -> AgentRuntime:
        runtime: AgentRuntime | None = getattr(self._state, "runtime", None)
        if runtime is None:
            raise _starting()
        return runtime

    @staticmethod
    def _run_config(runtime: AgentRuntime, config: RunnableConfig | None) -> RunnableConfig:
        run_config: dict[str, Any] = dict(config or {})
        configurable = dict(run_config.get("configurable") or {})
        check_thread_id(configurable)
        configurable.setdefault("owner", "")
        run_config["configurable"] = configurable
        run_config["recursion_limit"] = runtime.settings.recursion_limit
        run_config["metadata"] = {**(run_config.get("metadata") or {}), **run_metadata()}
        return cast(RunnableConfig, run_config)

    @asynccontextmanager
    async def _turn(
        self, runtime: AgentRuntime, config: RunnableConfig, input: Any
    ) -> AsyncIterator[tuple[Any, RunnableConfig, dict[str, Any]]]:
        """The graph, config and input of one run, under the session lock, with rollback."""
        thread_id = str(config["configurable"]["thread_id"])
        messages = [
            message.model_copy(update={"id": uuid4().hex})
            for message in convert_to_messages(list(input.get("messages") or []))
        ]
        if not messages:  # validated before; kept for direct callers of the runnable
            raise _invalid("must hold at least one message", "input.messages")
        async with turn_locks(self._state).hold(thread_id):
            # Checked again under the lock: two principals racing to create one thread id both
            # pass the config modifier's check; the second must not run on the first's thread.
            owner = str(config["configurable"].get("owner") or "")
            await ensure_session_writable(runtime, thread_id, owner)
            async with rollback_on_failure(runtime, thread_id, str(messages[0].id)):
                yield runtime.graph, config, {"messages": messages}

    # -- sync API: refused (the checkpointer is async) ------------------------------------------

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        raise NotImplementedError("The served agent graph is async-only: use ainvoke/astream.")

    def stream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        raise NotImplementedError("The served agent graph is async-only: use ainvoke/astream.")

    # -- async API: forwarded to the graph ------------------------------------------------------

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        runtime = self._runtime()
        run_config = self._run_config(runtime, config)
        async with self._turn(runtime, run_config, input) as (graph, run_config, graph_input):
            result: dict[str, Any] = await graph.ainvoke(
                graph_input, run_config, **_durable(kwargs)
            )
        return result

    async def abatch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Each input on its own thread, concurrently; two inputs on one thread are refused."""
        if not inputs:
            return []
        runtime = self._runtime()
        configs = [self._run_config(runtime, c) for c in get_config_list(config, len(inputs))]
        thread_ids = [c["configurable"]["thread_id"] for c in configs]
        if len(set(thread_ids)) != len(thread_ids):
            raise _invalid(
                "each batch input needs its own thread id (send one config per input)",
                "configurable.thread_id",
            )
        results: list[Any] = await asyncio.gather(
            *(
                self.ainvoke(item, item_config, **kwargs)
                for item, item_config in zip(inputs, configs, strict=True)
            ),
            return_exceptions=return_exceptions,
        )
        return results

    async def astream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        runtime = self._runtime()
        run_config = self._run_config(runtime, config)
        async with self._turn(runtime, run_config, input) as (graph, run_config, graph_input):
            async for chunk in graph.astream(graph_input, run_config, **_durable(kwargs)):
                yield chunk

    async def astream_log(  # type: ignore[override]
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        runtime = self._runtime()
        run_config = self._run_config(runtime, config)
        async with self._turn(runtime, run_config, input) as (graph, run_config, graph_input):
            async for patch in graph.astream_log(graph_input, run_config, **_durable(kwargs)):
                yield patch

    async def astream_events(  # type: ignore[override]
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        runtime = self._runtime()
        run_config = self._run_config(runtime, config)
        async with self._turn(runtime, run_config, input) as (graph, run_config, graph_input):
            async for event in graph.astream_events(graph_input, run_config, **_durable(kwargs)):
                yield event


def _durable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The graph call's keyword arguments with the service's checkpoint durability."""
    return {"durability": TURN_DURABILITY, **kwargs}


# --------------------------------------------------------------------------------------------
# Request guard, config modifier, SSE error rewriting
# --------------------------------------------------------------------------------------------


def _endpoint_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _starting() -> ApiError:
    return ApiError(
        503,
        "starting",
        "The service is starting or shutting down; retry shortly.",
        headers={"Retry-After": "2"},
    )


def _make_guard(app: FastAPI) -> Callable[[Request], Awaitable[None]]:
    async def guard_agent_request(request: Request) -> None:
        """Validate run requests before LangServe parses them (503 / 413 / 422 JSON)."""
        endpoint = _endpoint_of(request.url.path)
        if request.method != "POST" or endpoint not in RUN_ENDPOINTS:
            return
        if getattr(app.state, "runtime", None) is None:
            raise _starting()
        max_batch: int = getattr(app.state.settings, "max_batch", MAX_BATCH_INPUTS)
        max_chars: int = getattr(app.state.settings, "max_prompt_chars", MAX_PROMPT_CHARS)
        try:
            body = await request.json()  # cached on the request: LangServe reads the same
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise ApiError(422, "invalid_request", "The request body must be JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "The request body must be a JSON object.")
        check_json_values(body)
        if endpoint == "batch":
            inputs = body.get("inputs")
            if not isinstance(inputs, list) or not inputs:
                raise _invalid("required, a non-empty list of inputs", "inputs")
            if len(inputs) > max_batch:
                raise ApiError(
                    413,
                    "payload_too_large",
                    f"inputs: at most {max_batch} inputs per batch, got {len(inputs)}",
                    extra={"field": "inputs"},
                )
            for index, item in enumerate(inputs):
                validate_agent_input(item, f"inputs.{index}", max_chars)
        else:
            validate_agent_input(body.get("input"), "input", max_chars)

    return guard_agent_request


def _make_config_modifier(
    app: FastAPI,
) -> Callable[[dict[str, Any], Request], Awaitable[dict[str, Any]]]:
    async def modify_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
        """Per request (per batch item), before any response starts: thread id required,
        reserved keys dropped, owner set from the request, another owner's thread refused."""
        owner = owner_of(request)
        configurable = server_configurable(config.get("configurable"), owner)
        thread_id = check_thread_id(configurable)
        runtime: AgentRuntime | None = getattr(app.state, "runtime", None)
        if runtime is None:
            raise _starting()
        await ensure_session_writable(runtime, thread_id, owner)
        return {**config, "configurable": configurable}

    return modify_config


class StreamErrorRewriter:
    """Turn LangServe's generic SSE `error` event into one that names what failed.

    LangServe's stream handlers, on an exception, send `event: error` with
    `{"status_code": 500, "message": "Internal Server Error"}` and then re-raise (the response
    has started, so nothing else can be sent). For the agent's stream endpoints this middleware
    holds that event back, classifies the exception with `app.errors`, sends
    `{"status_code", "message", "error": {"code", "message"}}` instead, ends the response
    cleanly and logs the failure.
    """

    def __init__(self, app: ASGIApp, prefix: str = AGENT_PATH) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/") + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not path.startswith(self.prefix)
            or _endpoint_of(path) not in STREAM_ENDPOINTS
        ):
            await self.app(scope, receive, send)
            return

        held: list[Message] = []
        finished = False

        async def filtering_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and (held or _is_error_event(message)):
                held.append(message)  # wait for the exception that follows the error event
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, filtering_send)
        except BaseException as raised:
            exc = _unwrap(raised)
            if not held or finished or not isinstance(exc, Exception):
                raise
            error = classify_exception(exc)
            log = logger.error if error.status >= 500 else logger.warning
            log(
                "agent stream failed: %s -> %s %s: %s",
                path,
                error.status,
                error.code,
                type(exc).__name__,
                exc_info=error.code == "internal_error",
            )
            payload = {
                "status_code": error.status,
                "message": error.message,
                "error": {"code": error.code, "message": error.message},
            }
            event = f"event: error\r\ndata: {json.dumps(payload)}\r\n\r\n".encode()
            await send({"type": "http.response.body", "body": event, "more_body": False})
            return
        for message in held:  # the run ended without raising after all: pass them through
            await send(message)


def _is_error_event(message: Message) -> bool:
    body = message.get("body", b"")
    return isinstance(body, bytes | bytearray) and body.lstrip().startswith(b"event: error")


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


# --------------------------------------------------------------------------------------------
# Mounting
# --------------------------------------------------------------------------------------------


def build_agent_router(
    app: FastAPI, *, dependencies: Sequence[Any] = (), path: str = AGENT_PATH
) -> APIRouter:
    """An `APIRouter` holding LangServe's routes for the app's agent graph under `path`."""
    from langserve import add_routes

    router = APIRouter()
    add_routes(
        router,
        LazyAgentGraph(app.state),
        path=path,
        config_keys=("configurable",),
        per_req_config_modifier=_make_config_modifier(app),
        dependencies=[Depends(_make_guard(app)), *dependencies],
        playground_type="default",
        enable_feedback_endpoint=False,
        enable_public_trace_link_endpoint=False,
        # Token feedback needs LangSmith; LangServe's type omits the name its runtime accepts.
        disabled_endpoints=["token_feedback"],  # type: ignore[list-item]
    )
    return router


def mount_langserve(app: FastAPI) -> None:
    """Serve the agent graph under `/agent` (routes on a router: no `on_startup` hook)."""
    app.include_router(build_agent_router(app))
    app.add_middleware(StreamErrorRewriter, prefix=AGENT_PATH)
