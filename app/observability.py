"""Request ids, the access log, Prometheus metrics and the agent's run metrics.

* **`ObservabilityMiddleware`** (pure ASGI, so streamed responses pass through untouched) is
  the outermost user middleware, outside auth, limits, CORS and the JSON error middleware, so
  every response — a 401, a CORS preflight, a 500 — carries `X-Request-Id` and is counted and
  logged. The id comes from the request's
  `X-Request-Id` when it is 1-128 characters of `A-Za-z0-9._:=+/@-`, otherwise a new one is
  generated. It writes one access line per request when the response ends (for an SSE
  stream: when the stream ends) with method, route template, path, status, latency, and what
  the run reported (session id, run id, tool names, model calls and latency). Probes and
  `/metrics` are logged at DEBUG unless they fail.
* **`AgentCallbackHandler`** is a LangChain async callback handler bound to the runtime's graph
  (`instrument_runtime`), so every run — `/ai`, `/ai/stream`, `/agent/*` — reports tool calls
  by tool and outcome, model-call latency, model errors by code (`app.errors` / provider
  classification) and turns by outcome, and writes one `turn finished` line per turn. Tool
  code is not touched.
* **Metrics** live in a `CollectorRegistry` of each app (`app.state.metrics.registry`): apps
  built side by side in one process (tests) never share or clash. `GET /metrics` serves it
  in the Prometheus text format. With several uvicorn workers each process has its own
  numbers (run one worker per replica, as the container does).

Prompts, answers and tool arguments appear in logs only with `COSMIC_WORKS_LOG_PROMPTS=true`.
Query strings and headers are never logged (they may carry keys).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from langchain_core.callbacks import AsyncCallbackHandler
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
)
from prometheus_client.exposition import choose_encoder
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import (
    RequestLogContext,
    bind_request,
    configure_logging_from_settings,
    current_request,
    log_fields,
    unbind_request,
)

if TYPE_CHECKING:
    from core.settings import Settings
    from graphs.runtime import AgentRuntime

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("cosmic_works.access")
turn_logger = logging.getLogger("cosmic_works.turn")

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:=+/@-]{1,128}")
UNMATCHED_ROUTE = "<unmatched>"
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METRICS_PATH = "/metrics"

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_TURN_MESSAGES = {"ok": "turn finished", "error": "turn failed", "cancelled": "turn cancelled"}


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


class Metrics:
    """The service's Prometheus metrics, registered in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        process_collector.ProcessCollector(registry=r)
        platform_collector.PlatformCollector(registry=r)
        gc_collector.GCCollector(registry=r)
        self.requests = Counter(
            "cosmic_works_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_latency = Histogram(
            "cosmic_works_http_request_duration_seconds",
            "Time from request to the end of the response (a stream: its whole duration).",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.active_streams = Gauge(
            "cosmic_works_sse_streams_active",
            "Server-Sent Events responses currently open.",
            ["route"],
            registry=r,
        )
        self.tool_calls = Counter(
            "cosmic_works_tool_calls",
            "Agent tool calls by tool and outcome (ok, error, cancelled).",
            ["tool", "outcome"],
            registry=r,
        )
        self.tool_latency = Histogram(
            "cosmic_works_tool_call_duration_seconds",
            "Agent tool call duration.",
            ["tool"],
            buckets=TOOL_BUCKETS,
            registry=r,
        )
        self.model_latency = Histogram(
            "cosmic_works_model_call_duration_seconds",
            "Chat model call duration (successful calls, including streaming).",
            buckets=MODEL_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "cosmic_works_model_errors",
            "Failed chat model calls by error code (model_timeout, model_rate_limited, ...).",
            ["code"],
            registry=r,
        )
        self.turns = Counter(
            "cosmic_works_turns",
            "Agent turns (graph runs) by outcome (ok, error, cancelled).",
            ["outcome"],
            registry=r,
        )

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry in the format the scraper asks for (`Accept`): the Prometheus text
        format 0.0.4 by default, OpenMetrics or text 1.0.0 when requested."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


router = APIRouter(tags=["operations"])


@router.get(
    METRICS_PATH,
    include_in_schema=False,
    response_class=Response,
    summary="Prometheus metrics of this process",
)
async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    body, content_type = metrics.exposition(request.headers.get("accept", ""))
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


# --------------------------------------------------------------------------------------------
# Agent runs: LangChain callbacks
# --------------------------------------------------------------------------------------------


@dataclass
class _Turn:
    started: float
    run_id: str
    session_id: str | None
    prompt: str | None = None
    tools: list[str] = field(default_factory=list)
    model_calls: int = 0
    model_seconds: float = 0.0
    runs: set[UUID] = field(default_factory=set)  # every run under this one


def _error_code(error: BaseException) -> str:
    from app.errors import classify_exception

    return classify_exception(error).code if isinstance(error, Exception) else "cancelled"


def _last_human_text(value: Any) -> str | None:
    messages = value.get("messages") if isinstance(value, Mapping) else None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        kind = getattr(message, "type", None)
        if kind is None and isinstance(message, Mapping):
            kind = message.get("type") or message.get("role")
        if kind in ("human", "user"):
            text = getattr(message, "text", None)
            if text is None and isinstance(message, Mapping):
                text = message.get("content")
            return text if isinstance(text, str) else str(text)
    return None


def _answer_text(outputs: Any) -> str | None:
    messages = outputs.get("messages") if isinstance(outputs, Mapping) else None
    if isinstance(messages, list) and messages:
        text = getattr(messages[-1], "text", None)
        return text if isinstance(text, str) else None
    return None


class AgentCallbackHandler(AsyncCallbackHandler):
    """Counts tool calls, model calls and turns of every graph run it is attached to.

    The first chain it sees whose parent it has not seen is a turn's root (the graph run).
    Child runs are mapped to their root, so tool names and model latency add up per turn and
    are also put on the current request's log context.
    """

    run_inline = True  # cheap, in-memory: no task per event, and events stay in order
    raise_error = False  # a metrics failure must never fail a turn

    def __init__(self, metrics: Metrics, *, log_prompts: bool = False) -> None:
        super().__init__()
        self.metrics = metrics
        self.log_prompts = log_prompts
        self._parent: dict[UUID, UUID | None] = {}
        self._turns: dict[UUID, _Turn] = {}
        self._model_started: dict[UUID, float] = {}
        self._tool_started: dict[UUID, tuple[str, float]] = {}

    # -- bookkeeping ---------------------------------------------------------------------

    def _track(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        self._parent[run_id] = parent_run_id if parent_run_id in self._parent else None
        turn = self._turn_of(parent_run_id)
        if turn is not None:
            turn.runs.add(run_id)

    def _forget(self, turn: _Turn) -> None:
        """Drop what runs of a finished turn left behind (a cancelled tool reports no end)."""
        for run_id in turn.runs:
            self._parent.pop(run_id, None)
            self._model_started.pop(run_id, None)
            self._tool_started.pop(run_id, None)

    def _turn_of(self, run_id: UUID | None) -> _Turn | None:
        seen = 0
        while run_id is not None and seen < 64:
            turn = self._turns.get(run_id)
            if turn is not None:
                return turn
            run_id = self._parent.get(run_id)
            seen += 1
        return None

    # -- chains: turns -------------------------------------------------------------------

    async def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        is_root = parent_run_id is None or parent_run_id not in self._parent
        self._track(run_id, parent_run_id)
        if not is_root:
            return
        thread_id = (metadata or {}).get("thread_id")
        turn = _Turn(
            started=time.perf_counter(),
            run_id=str(run_id),
            session_id=str(thread_id) if thread_id else None,
            prompt=_last_human_text(inputs) if self.log_prompts else None,
        )
        self._turns[run_id] = turn
        context = current_request()
        if context is not None:
            context.session_id = context.session_id or turn.session_id
            context.run_id = context.run_id or turn.run_id

    async def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        self._parent.pop(run_id, None)
        turn = self._turns.pop(run_id, None)
        if turn is not None:
            self._finish(turn, "ok", answer=_answer_text(outputs) if self.log_prompts else None)

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._parent.pop(run_id, None)
        turn = self._turns.pop(run_id, None)
        if turn is not None:
            cancelled = isinstance(error, asyncio.CancelledError)
            self._finish(
                turn,
                "cancelled" if cancelled else "error",
                error=None if cancelled else _error_code(error),
            )

    def _finish(
        self, turn: _Turn, outcome: str, *, answer: str | None = None, error: str | None = None
    ) -> None:
        self._forget(turn)
        self.metrics.turns.labels(outcome=outcome).inc()
        duration_ms = (time.perf_counter() - turn.started) * 1000
        turn_logger.info(
            _TURN_MESSAGES.get(outcome, "turn ended"),
            extra=log_fields(
                session_id=turn.session_id,
                run_id=turn.run_id,
                outcome=outcome,
                error_code=error,
                duration_ms=round(duration_ms, 1),
                tools=turn.tools,
                model_calls=turn.model_calls,
                model_latency_ms=round(turn.model_seconds * 1000, 1),
                prompt=turn.prompt,
                answer=answer,
            ),
        )

    # -- chat models -----------------------------------------------------------------------

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._track(run_id, parent_run_id)
        self._model_started[run_id] = time.perf_counter()

    async def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._track(run_id, parent_run_id)
        self._model_started[run_id] = time.perf_counter()

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        started = self._model_started.pop(run_id, None)
        turn = self._turn_of(run_id)
        self._parent.pop(run_id, None)
        if started is None:
            return
        seconds = time.perf_counter() - started
        self.metrics.model_latency.observe(seconds)
        if turn is not None:
            turn.model_calls += 1
            turn.model_seconds += seconds
        context = current_request()
        if context is not None:
            context.model_calls += 1
            context.model_latency_ms += seconds * 1000

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._model_started.pop(run_id, None)
        self._parent.pop(run_id, None)
        if isinstance(error, asyncio.CancelledError):
            return  # the client left or the server stops: not a model failure
        code = _error_code(error)
        self.metrics.model_errors.labels(code=code).inc()
        logger.warning(
            "model call failed: %s (%s)", code, type(error).__name__, extra=log_fields(code=code)
        )

    # -- tools -----------------------------------------------------------------------------

    async def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._track(run_id, parent_run_id)
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "unknown")
        self._tool_started[run_id] = (name, time.perf_counter())
        turn = self._turn_of(run_id)
        if turn is not None:
            turn.tools.append(name)
        context = current_request()
        if context is not None:
            context.tools.append(name)
        if self.log_prompts:
            turn_logger.info(
                "tool %s called",
                name,
                extra=log_fields(tool=name, tool_input=inputs if inputs is not None else input_str),
            )

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        failed = getattr(output, "status", None) == "error"  # a ToolMessage reporting an error
        self._tool_done(run_id, "error" if failed else "ok")

    async def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        cancelled = isinstance(error, asyncio.CancelledError)
        self._tool_done(run_id, "cancelled" if cancelled else "error")

    def _tool_done(self, run_id: UUID, outcome: str) -> None:
        self._parent.pop(run_id, None)
        started = self._tool_started.pop(run_id, None)
        if started is None:
            return
        name, began = started
        self.metrics.tool_calls.labels(tool=name, outcome=outcome).inc()
        self.metrics.tool_latency.labels(tool=name).observe(time.perf_counter() - began)


def instrument_runtime(runtime: AgentRuntime, handler: AgentCallbackHandler) -> AgentRuntime:
    """The runtime with `handler` bound to every run of its graph.

    `Pregel.with_config` returns a compiled graph (not a wrapper), so state reads and updates
    work as before; per-call callbacks (SSE event streaming, LangSmith's tracer, which
    LangChain adds itself when `LANGSMITH_TRACING=true`) are merged with it, not replaced.
    """
    graph = runtime.graph.with_config(callbacks=[handler])
    return dataclasses.replace(runtime, graph=graph)


# --------------------------------------------------------------------------------------------
# HTTP: request ids, access log, request metrics
# --------------------------------------------------------------------------------------------


def request_id_from(scope: Scope) -> str:
    """The client's `X-Request-Id` if it is acceptable, else a new id (32 hex digits)."""
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-request-id":
            try:
                candidate = value.decode("ascii").strip()
            except UnicodeDecodeError:
                break
            if REQUEST_ID_PATTERN.fullmatch(candidate):
                return candidate
            break
    return uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/session/load/{session_id}`), bounded cardinality."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class ObservabilityMiddleware:
    """Request id in and out, one access line and the request metrics per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        context = RequestLogContext(
            request_id=request_id, method=scope.get("method", ""), path=scope.get("path", "")
        )
        scope.setdefault("state", {})["request_id"] = request_id
        token = bind_request(context)
        started = time.perf_counter()
        status: int | None = None
        sent_bytes = 0
        stream_route: str | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent_bytes, stream_route
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                session = headers.get("x-session-id")
                if session and not context.session_id:
                    context.session_id = session
                if headers.get("content-type", "").startswith("text/event-stream"):
                    stream_route = route_template(scope)
                    self.metrics.active_streams.labels(route=stream_route).inc()
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        outcome_status: int | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            outcome_status = status or 499  # the server stopped serving the request
            raise
        except BaseException:
            outcome_status = status or 500
            raise
        finally:
            if stream_route is not None:
                self.metrics.active_streams.labels(route=stream_route).dec()
            final_status = outcome_status or status or 500
            self._record(scope, context, final_status, time.perf_counter() - started, sent_bytes)
            unbind_request(token)

    def _record(
        self,
        scope: Scope,
        context: RequestLogContext,
        status: int,
        seconds: float,
        sent_bytes: int,
    ) -> None:
        route = route_template(scope)
        method = context.method
        try:
            self.metrics.requests.labels(route=route, method=method, status=str(status)).inc()
            self.metrics.request_latency.labels(route=route, method=method).observe(seconds)
            if context.session_id is None:
                session = (scope.get("path_params") or {}).get("session_id")
                context.session_id = str(session) if session else None
            level = logging.DEBUG if context.path in QUIET_PATHS and status < 400 else logging.INFO
            if not access_logger.isEnabledFor(level):
                return
            latency_ms = round(seconds * 1000, 1)
            access_logger.log(
                level,
                "%s %s %s %.1f ms",
                method,
                context.path,
                status,
                latency_ms,
                extra=log_fields(
                    route=route,
                    method=method,
                    path=context.path,
                    status=status,
                    latency_ms=latency_ms,
                    bytes=sent_bytes,
                    tools=list(context.tools) or None,
                    model_calls=context.model_calls or None,
                    model_latency_ms=(
                        round(context.model_latency_ms, 1) if context.model_calls else None
                    ),
                ),
            )
        except Exception:  # observability must never break a response
            logger.exception("recording the request failed")


# --------------------------------------------------------------------------------------------
# Wiring
# --------------------------------------------------------------------------------------------


def install_observability(app: FastAPI, settings: Settings) -> Metrics:
    """Configure logging, add `/metrics` and the access middleware; call it after every other
    `add_middleware`, so that the access middleware is the outermost (`user_middleware[0]`).

    A regular user middleware (not a wrapper around the whole stack) so that the LangGraph
    server's custom-app mode (`app.langgraph_app`), which takes `app.user_middleware`, keeps it.
    """
    configure_logging_from_settings(settings)
    metrics = Metrics()
    app.state.metrics = metrics
    app.state.agent_callbacks = AgentCallbackHandler(metrics, log_prompts=settings.log_prompts)
    app.include_router(router)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    return metrics


def observed_runtime(app: FastAPI, runtime: AgentRuntime) -> AgentRuntime:
    """`runtime` with the app's agent callbacks bound (identity if observability is off)."""
    handler: AgentCallbackHandler | None = getattr(app.state, "agent_callbacks", None)
    return instrument_runtime(runtime, handler) if handler is not None else runtime
