"""Test doubles: a scripted tool-calling chat model and a streaming in-process ASGI transport.

`ScriptedChatModel` plays back AIMessages (tool calls and answers) the way LangGraph's own
tests do, streams answers word by word with an optional delay, and records its calls and
whether a call was cancelled — enough to test token streaming, disconnects and turn ordering
without a network.

`StreamingASGITransport` exists because httpx's `ASGITransport` buffers the whole response
and never reports a client disconnect: SSE tests that close a stream early need both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr
from starlette.types import ASGIApp, Message

Responder = Callable[[list[BaseMessage]], AIMessage]
# The `open_app` fixture (tests/app/conftest.py): `async with open_app(model) as app`.
AppFactory = Callable[..., AbstractAsyncContextManager[Any]]


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    """An assistant message that asks for one tool call."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def echo_responder(prefix: str = "Answer to") -> Responder:
    """Answers `<prefix> <last user text>`: tests can check which answer went with which prompt."""

    def respond(messages: list[BaseMessage]) -> AIMessage:
        last_human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        return AIMessage(content=f"{prefix} {last_human.text}")

    return respond


class ScriptedChatModel(BaseChatModel):
    """Plays back `script` in order (AIMessages, or one `Responder` for every call).

    * `error`: raised by every call instead of answering (provider failures).
    * `token_delay`: seconds slept before each streamed chunk (slow models, disconnects).
    * `calls`: the messages of every call; `cancelled`: set when a call was cancelled;
      `started`: set when the first chunk of any call has been produced.
    """

    script: list[AIMessage] = []
    responder: Responder | None = None
    error: BaseException | None = None
    token_delay: float = 0.0

    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _position: int = PrivateAttr(default=0)
    _cancelled: asyncio.Event = PrivateAttr(default_factory=asyncio.Event)
    _started: asyncio.Event = PrivateAttr(default_factory=asyncio.Event)
    _active: int = PrivateAttr(default=0)
    _max_active: int = PrivateAttr(default=0)

    model_config = {"arbitrary_types_allowed": True}

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        return self._calls

    @property
    def cancelled(self) -> asyncio.Event:
        return self._cancelled

    @property
    def started(self) -> asyncio.Event:
        return self._started

    @property
    def max_concurrent_calls(self) -> int:
        """The most calls that were in progress at the same time (turn-ordering tests)."""
        return self._max_active

    def bind_tools(  # type: ignore[override]
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools are ignored: the script decides which tool is called."""
        return self

    def _next_message(self, messages: list[BaseMessage]) -> AIMessage:
        self._calls.append(list(messages))
        if self.error is not None:
            raise self.error
        if self.responder is not None:
            return self.responder(list(messages))
        if self._position >= len(self.script):
            raise AssertionError(f"script exhausted after {self._position} model calls")
        message = self.script[self._position]
        self._position += 1
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next_message(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Non-streaming calls go through the same chunks, delays and cancellation record."""
        merged: AIMessageChunk | None = None
        async for chunk in self._astream(messages, stop, None, **kwargs):
            merged = chunk.message if merged is None else merged + chunk.message  # type: ignore[assignment]
        assert merged is not None
        message = AIMessage(content=merged.content, tool_calls=merged.tool_calls, id=merged.id)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        self._active += 1
        self._max_active = max(self._max_active, self._active)
        try:
            message = self._next_message(messages)
            for chunk in _chunks_of(message):
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                self._started.set()
                yield ChatGenerationChunk(message=chunk)
        except asyncio.CancelledError:
            self._cancelled.set()
            raise
        finally:
            self._active -= 1


def _chunks_of(message: AIMessage) -> Iterator[AIMessageChunk]:
    """Word-by-word chunks of the text, then one chunk carrying the tool calls (if any)."""
    text = message.text
    words = text.split(" ") if text else []
    for index, word in enumerate(words):
        yield AIMessageChunk(content=word if index == 0 else f" {word}", id=message.id)
    if message.tool_calls:
        yield AIMessageChunk(
            content="",
            id=message.id,
            tool_call_chunks=[
                {
                    "name": call["name"],
                    "args": json.dumps(call["args"]),
                    "id": call["id"],
                    "index": index,
                    "type": "tool_call_chunk",
                }
                for index, call in enumerate(message.tool_calls)
            ],
        )
    if not words and not message.tool_calls:
        yield AIMessageChunk(content="", id=message.id)


class _QueueStream(httpx.AsyncByteStream):
    def __init__(
        self, queue: asyncio.Queue[bytes | None], task: asyncio.Task[None], closed: asyncio.Event
    ) -> None:
        self._queue = queue
        self._task = task
        self._closed = closed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield chunk

    async def aclose(self) -> None:
        """Closing the response is the client going away: tell the app, let it finish."""
        self._closed.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout=10)


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Serve an ASGI app in-process, streaming the body as it is sent.

    Closing the response early (leaving `client.stream(...)`) delivers `http.disconnect` to
    the app, as a server does when the socket closes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        started = asyncio.Event()
        closed = asyncio.Event()
        start: dict[str, Any] = {}
        body_sent = False

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await closed.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                started.set()
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    queue.put_nowait(bytes(message["body"]))
                if not message.get("more_body", False):
                    queue.put_nowait(None)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": ("127.0.0.1", 123),
            "root_path": "",
        }

        async def serve() -> None:
            await self.app(scope, receive, send)

        task = asyncio.create_task(serve())
        task.add_done_callback(lambda _: queue.put_nowait(None))
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiter.cancel()
            await task  # re-raises the app's exception
            raise RuntimeError("the app returned without starting a response")
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
        return httpx.Response(
            start["status"], headers=headers, stream=_QueueStream(queue, task, closed)
        )


def asgi_client(app: ASGIApp, *, streaming: bool = False) -> httpx.AsyncClient:
    """An in-process client; `streaming=True` streams bodies and reports early closes."""
    transport: httpx.AsyncBaseTransport = (
        StreamingASGITransport(app) if streaming else httpx.ASGITransport(app=app)
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")
