"""Request limits: prompt length, body size on the raw stream, batch size and session ids
(all from settings, answered as JSON), and one turn at a time per session across routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.messages import HumanMessage

from core.settings import Settings
from tests.fakes import AppFactory, ScriptedChatModel, asgi_client, echo_responder

pytestmark = pytest.mark.timeout(900)


def agent_body(text: str, thread_id: str = "lim-1") -> dict[str, Any]:
    return {
        "input": {"messages": [{"type": "human", "content": text}]},
        "config": {"configurable": {"thread_id": thread_id}},
    }


def batch_body(count: int, text: str = "hi") -> dict[str, Any]:
    return {
        "inputs": [{"messages": [{"type": "human", "content": text}]} for _ in range(count)],
        "config": [{"configurable": {"thread_id": f"b-{i}"}} for i in range(count)],
    }


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


@pytest.fixture
def small(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"max_prompt_chars": 50, "max_body_bytes": 2048, "max_batch": 2}
    )


# --------------------------------------------------------------------------------------------
# Prompt length
# --------------------------------------------------------------------------------------------


async def test_prompt_limit_comes_from_settings(open_app: AppFactory, small: Settings) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model, settings=small) as app, asgi_client(app) as client:
        ok = await client.post("/ai", json={"prompt": "x" * 50})
        assert ok.status_code == 200, ok.text
        for path in ("/ai", "/ai/stream"):
            error = assert_error(
                await client.post(path, json={"prompt": "x" * 51}), 422, "invalid_request"
            )
            assert error["field"] == "prompt" and "50" in error["message"]
        error = assert_error(
            await client.post("/agent/invoke", json=agent_body("x" * 51)), 422, "invalid_request"
        )
        assert error["field"] == "input.messages.0.content" and "50" in error["message"]
        error = assert_error(
            await client.post("/agent/batch", json=batch_body(1, "x" * 51)),
            422,
            "invalid_request",
        )
        assert error["field"] == "inputs.0.messages.0.content"
        ok = await client.post("/agent/invoke", json=agent_body("y" * 50))
        assert ok.status_code == 200, ok.text


async def test_apps_with_different_prompt_limits_do_not_share_them(
    open_app: AppFactory, small: Settings, settings: Settings
) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with (
        open_app(model, settings=small) as strict_app,
        open_app(model, settings=settings) as default_app,
        asgi_client(strict_app) as strict,
        asgi_client(default_app) as default,
    ):
        body = {"prompt": "x" * 60}
        strict_response, default_response = await asyncio.gather(
            strict.post("/ai", json=body), default.post("/ai", json=body)
        )
    assert strict_response.status_code == 422
    assert default_response.status_code == 200


# --------------------------------------------------------------------------------------------
# Body size, on the raw stream
# --------------------------------------------------------------------------------------------


async def raw_call(
    app: FastAPI, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[str, Any], int]:
    """POST `chunks` straight through ASGI: (status, JSON body, chunks the app read)."""
    read = 0
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if not pending:
            await asyncio.sleep(3600)  # a client that sends nothing more
        read += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), read


ROUTES = ["/ai", "/ai/stream", "/agent/invoke", "/agent/batch", "/agent/stream_events"]


@pytest.mark.parametrize("path", ROUTES)
async def test_declared_oversized_body_is_413_before_reading(
    open_app: AppFactory, small: Settings, path: str
) -> None:
    async with open_app(settings=small) as app:
        status, body, read = await raw_call(
            app, path, [b"{" + b" " * 4096], [(b"content-length", b"4097")]
        )
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert "2048" in body["error"]["message"]
    assert read == 0  # refused on the header alone


@pytest.mark.parametrize("path", ROUTES)
async def test_chunked_oversized_body_is_413_as_soon_as_it_crosses(
    open_app: AppFactory, small: Settings, path: str
) -> None:
    async with open_app(settings=small) as app:
        chunks = [b" " * 1000 for _ in range(100)]
        status, body, read = await raw_call(app, path, chunks, [])
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert read == 3  # 3,000 bytes > 2,048: the other 97 chunks are never read


async def test_a_body_longer_than_its_content_length_is_cut_off(
    open_app: AppFactory, small: Settings
) -> None:
    async with open_app(settings=small) as app:
        chunks = [b" " * 1000 for _ in range(10)]
        status, body, read = await raw_call(app, "/ai", chunks, [(b"content-length", b"10")])
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert read == 3


async def test_body_limit_through_http(open_app: AppFactory, small: Settings) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    roomy = small.model_copy(update={"max_prompt_chars": 4000})
    async with open_app(model, settings=roomy) as app, asgi_client(app) as client:
        ok = await client.post("/ai", json={"prompt": "x" * 1500})
        assert ok.status_code == 200, ok.text
        assert_error(
            await client.post("/ai", json={"prompt": "x" * 3000}), 413, "payload_too_large"
        )

        async def chunked() -> AsyncIterator[bytes]:
            yield b'{"prompt": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        response = await client.post(
            "/ai", content=chunked(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert_error(response, 413, "payload_too_large")


# --------------------------------------------------------------------------------------------
# Batch size
# --------------------------------------------------------------------------------------------


async def test_batch_cap_comes_from_settings(open_app: AppFactory, small: Settings) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model, settings=small) as app, asgi_client(app) as client:
        error = assert_error(
            await client.post("/agent/batch", json=batch_body(3)), 413, "payload_too_large"
        )
        assert "at most 2" in error["message"] and error["field"] == "inputs"
        ok = await client.post("/agent/batch", json=batch_body(2))
        assert ok.status_code == 200, ok.text


# --------------------------------------------------------------------------------------------
# Session ids on every route
# --------------------------------------------------------------------------------------------

BAD_IDS = [
    "x" * 129,
    "has space",
    "-leading-dash",
    "caf\u00e9",
    "semi;colon",
    "a/b",
    "..",
    "\u0000",
]
# ("a/b" and ".." never reach the route: they are other paths, answered 404 not_found)
PATH_SAFE_BAD_IDS = ["x" * 129, "has%20space", "-leading-dash", "caf%C3%A9", "semi;colon", "%00"]


@pytest.mark.parametrize("session_id", BAD_IDS)
async def test_bad_session_ids_are_422_in_bodies(
    client: httpx.AsyncClient, session_id: str
) -> None:
    for path in ("/ai", "/ai/stream"):
        error = assert_error(
            await client.post(path, json={"session_id": session_id, "prompt": "hi"}),
            422,
            "invalid_request",
        )
        assert error["field"] == "session_id"
    for endpoint in ("invoke", "stream", "stream_events", "stream_log"):
        error = assert_error(
            await client.post(f"/agent/{endpoint}", json=agent_body("hi", session_id)),
            422,
            "invalid_request",
        )
        assert error["field"] == "configurable.thread_id"
    body = batch_body(1)
    body["config"] = [{"configurable": {"thread_id": session_id}}]
    assert_error(await client.post("/agent/batch", json=body), 422, "invalid_request")


@pytest.mark.parametrize("session_id", PATH_SAFE_BAD_IDS)
async def test_bad_session_ids_are_422_in_paths(client: httpx.AsyncClient, session_id: str) -> None:
    for method, path in (("GET", "/session/load/{}"), ("DELETE", "/session/{}")):
        response = await client.request(method, path.format(session_id))
        error = assert_error(response, 422, "invalid_request")
        assert error["field"] == "path.session_id"


async def test_longest_valid_session_id_is_accepted(open_app: AppFactory) -> None:
    session_id = "A1_.:-" + "x" * 122
    assert len(session_id) == 128
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model) as app, asgi_client(app) as client:
        response = await client.post("/ai", json={"session_id": session_id, "prompt": "hi"})
        assert response.status_code == 200, response.text
        assert (await client.get(f"/session/load/{session_id}")).status_code == 200
        assert (await client.delete(f"/session/{session_id}")).status_code == 204


# --------------------------------------------------------------------------------------------
# One turn at a time per session, whichever route runs it
# --------------------------------------------------------------------------------------------


async def test_turns_from_ai_stream_and_agent_on_one_session_never_interleave(
    open_app: AppFactory,
) -> None:
    model = ScriptedChatModel(responder=echo_responder(), token_delay=0.02)
    async with open_app(model) as app, asgi_client(app) as client:
        session = "mixed-1"
        first = asyncio.create_task(
            client.post("/ai", json={"session_id": session, "prompt": "q1"})
        )
        await asyncio.wait_for(model.started.wait(), timeout=10)  # q1 holds the session
        responses = await asyncio.gather(
            first,
            client.post("/agent/invoke", json=agent_body("q2", session)),
            client.post("/ai/stream", json={"session_id": session, "prompt": "q3"}),
            client.post("/agent/stream_events", json=agent_body("q4", session)),
        )
        assert [r.status_code for r in responses] == [200, 200, 200, 200]
        assert model.max_concurrent_calls == 1
        snapshot = await app.state.runtime.graph.aget_state(
            {"configurable": {"thread_id": session}}
        )
        messages = snapshot.values["messages"]
        assert [m.type for m in messages] == ["human", "ai"] * 4  # never q, q, a, a
        for question, answer in zip(messages[::2], messages[1::2], strict=True):
            assert isinstance(question, HumanMessage)
            assert answer.text == f"Answer to {question.text}"
        assert messages[0].text == "q1"
        assert {m.text for m in messages[::2]} == {"q1", "q2", "q3", "q4"}
        history = (await client.get(f"/session/load/{session}")).json()["history"]
        assert len(history) == 8
        assert len(app.state.turn_locks) == 0
