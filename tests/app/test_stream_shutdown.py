"""Graceful shutdown of `/ai/stream`: a running turn gets a drain window to finish; past it,
the turn is rolled back and the stream ends with an `error` event instead of being cut.

Shutdown is what uvicorn signals on SIGTERM; sse-starlette's watcher turns it into the
response's `shutdown_event`. Here `AppStatus.should_exit` plays the signal, in-process.
"""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessage
from sse_starlette import sse as sse_module

from app.routes import chat
from tests.app.test_chat_routes import Event, parse_sse
from tests.fakes import AppFactory, ScriptedChatModel, asgi_client

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def signal_shutdown(monkeypatch: pytest.MonkeyPatch) -> object:
    """Call the returned function to play uvicorn's exit signal (undone after the test)."""
    # A watcher left by an earlier test's (closed) event loop must not stand in for ours.
    monkeypatch.setattr(sse_module._get_shutdown_state(), "watcher_started", False)
    monkeypatch.setattr(sse_module.AppStatus, "should_exit", False)

    def signal() -> None:
        sse_module.AppStatus.should_exit = True

    return signal


async def _stream_until_shutdown(app: object, signal: object, prompt: str) -> list[Event]:
    """The events of a stream during which (after its first token) the server shuts down."""
    events: list[Event] = []
    buffer = ""
    async with asgi_client(app, streaming=True) as streaming:  # type: ignore[arg-type]
        async with streaming.stream("POST", "/ai/stream", json={"prompt": prompt}) as response:
            assert response.status_code == 200
            async for text in response.aiter_text():
                buffer += text.replace("\r\n", "\n")
                blocks = buffer.split("\n\n")
                buffer = blocks.pop()
                for block in blocks:
                    for event in parse_sse(block + "\n\n"):
                        if event[0] == "token" and not any(n == "token" for n, _ in events):
                            signal()  # type: ignore[operator]
                        events.append(event)
    return events


async def test_a_turn_that_finishes_within_the_drain_ends_normally(
    open_app: AppFactory, signal_shutdown: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat, "STREAM_DRAIN_S", 10.0)
    answer = " ".join(f"w{i}" for i in range(30))
    model = ScriptedChatModel(script=[AIMessage(answer)], token_delay=0.05)  # ~1.5 s
    async with open_app(model) as app:
        events = await _stream_until_shutdown(app, signal_shutdown, "q1")
        assert events[-1] == ("end", {"message": answer, "session_id": events[0][1]["session_id"]})
        assert "error" not in [name for name, _ in events]
        sessions = await _sessions(app)
    assert len(sessions) == 1  # the drained turn was stored


async def test_a_turn_past_the_drain_is_rolled_back_and_the_stream_says_so(
    open_app: AppFactory, signal_shutdown: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat, "STREAM_DRAIN_S", 0.3)
    model = ScriptedChatModel(script=[AIMessage(" ".join(["word"] * 600))], token_delay=0.05)
    async with open_app(model) as app:
        started = asyncio.get_running_loop().time()
        events = await _stream_until_shutdown(app, signal_shutdown, "q1")
        elapsed = asyncio.get_running_loop().time() - started
        assert events[-1][0] == "error", events[-3:]
        assert events[-1][1]["code"] == "shutting_down"
        assert "not answered" in events[-1][1]["message"]
        assert "end" not in [name for name, _ in events]
        assert elapsed < 10  # not the 30 s the answer would have taken
        assert await _sessions(app) == []  # nothing of the cut turn is kept
        turns = app.state.metrics.registry.get_sample_value
        assert turns("cosmic_works_turns_total", {"outcome": "cancelled"}) == 1


async def _sessions(app: object) -> list[object]:
    async with asgi_client(app) as client:  # type: ignore[arg-type]
        response = await client.get("/session/list")
    listed: list[object] = response.json()
    return listed
