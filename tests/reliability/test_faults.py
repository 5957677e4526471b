"""Faults, each a test (issue 6, item 3): what a client sees when a dependency fails, and what
is left of the conversation afterwards.

* the catalog store is lost under a running process → 503 `store_unavailable` within 2 s on
  `/ai`, `/ai/stream` (an `error` event), `/agent/invoke`, `/agent/batch` and `/readyz`;
* the model hangs (a real `ChatOpenAI` against the OpenAI-protocol stub, 1 s timeout) → 504
  `model_timeout`;
* the model keeps answering 429 until the retries are spent → 503 `model_rate_limited` with
  `Retry-After`;
* a tool raises → the agent gets an error tool message and still answers (200, no 500);
* the client leaves a stream mid-answer (real uvicorn) → the turn is cancelled within 1 s and
  nothing of it is stored (in-process variants: tests/app/test_chat_routes.py
  `test_client_disconnect_cancels_the_turn`, `test_disconnect_during_a_first_turn_leaves_no_session`
  and tests/app/test_langserve.py `test_client_leaving_a_stream_rolls_the_turn_back`);
* the server is killed with SIGKILL mid-turn (during a tool, during the answer) → after a
  restart the session loads with its complete turns only and the next turn works.

In every failure case the failed turn leaves nothing behind: an earlier conversation keeps
exactly its complete turns, a first turn leaves no session.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import SecretStr

from app.turns import thread_config
from core.settings import Settings
from graphs.chat_models import build_chat_model
from graphs.checkpointer import open_checkpointer
from graphs.runtime import AgentRuntime
from tests.fakes import AppFactory, ScriptedChatModel, asgi_client, tool_call
from tests.graphs.openai_stub import Failure, OpenAIStub, clean_model_env
from tests.reliability.slow_app import SLOW_MARKER, TOOL_DELAY_ENV
from tests.server_process import free_port, server_env, wait_until_healthy

# The first run on a machine embeds the sample catalog (cached afterwards): minutes.
pytestmark = pytest.mark.timeout(900)

SKU_QUESTION = "What was the price of the product with sku `FR-R92B-58`?"
SEARCH_QUESTION = "What is HL Road Frame?"
SKU_ANSWER = "$1431.50"
STORE_BUDGET_S = 2.0
MODEL_TIMEOUT_S = 1.0
STUB_KEY = "sk-reliability-stub-key"
SLOW_FACTORY = "tests.reliability.slow_app:create_app"
OFFLINE_FACTORY = "app.main:create_app"

Event = tuple[str, dict[str, Any]]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def parse_sse(text: str) -> list[Event]:
    """`(event, data)` pairs of an SSE body; comment lines (pings) are skipped."""
    events: list[Event] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def names(events: list[Event]) -> list[str]:
    return [name for name, _ in events]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert "Traceback" not in response.text
    return error


def agent_body(thread_id: str, text: str) -> dict[str, Any]:
    return {
        "input": {"messages": [{"type": "human", "content": text}]},
        "config": {"configurable": {"thread_id": thread_id}},
    }


async def history(client: httpx.AsyncClient, session_id: str) -> list[str]:
    response = await client.get(f"/session/load/{session_id}")
    assert response.status_code == 200, response.text
    return [item["content"] for item in response.json()["history"]]


async def listed(client: httpx.AsyncClient) -> list[str]:
    return [item["session_id"] for item in (await client.get("/session/list")).json()]


async def raw_messages(app: Any, session_id: str) -> list[BaseMessage]:
    runtime: AgentRuntime = app.state.runtime
    snapshot = await runtime.graph.aget_state(thread_config(runtime, session_id))
    return list(snapshot.values.get("messages", []))


class Timer:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


# --------------------------------------------------------------------------------------------
# The catalog store is unavailable
# --------------------------------------------------------------------------------------------


def lose_catalog_file(data_dir: Path) -> None:
    """Truncate the catalog's SQLite files under the running process (a lost or wiped volume).

    The open connections keep their file descriptors; every later read fails with SQLite's
    "database disk image is malformed", which the store raises as `StoreError`.
    """
    for name in ("catalog.sqlite", "catalog.sqlite-wal"):
        path = data_dir / name
        if path.exists():
            with path.open("r+b") as handle:
                handle.truncate(0)


async def test_store_unavailable_is_503_store_unavailable_on_every_route(
    open_app: AppFactory, data_dir: Path
) -> None:
    async with open_app() as app, asgi_client(app) as client:
        # Warm up: an earlier conversation, and the search path (embeddings loaded once).
        first = await client.post("/ai", json={"session_id": "kept", "prompt": SKU_QUESTION})
        assert first.status_code == 200 and SKU_ANSWER in first.json()["message"]
        assert (await client.post("/ai", json={"prompt": SEARCH_QUESTION})).status_code == 200
        before = await listed(client)
        kept = [m.id for m in await raw_messages(app, "kept")]

        lose_catalog_file(data_dir)

        for body in (
            {"prompt": SKU_QUESTION},  # a lookup
            {"prompt": SEARCH_QUESTION},  # a hybrid search
            {"session_id": "kept", "prompt": "What is the price of BK-M68B-42?"},
        ):
            timer = Timer()
            response = await client.post("/ai", json=body)
            assert timer.elapsed < STORE_BUDGET_S, (body, timer.elapsed)
            error = assert_error(response, 503, "store_unavailable")
            assert "catalog store" in error["message"].lower()

        timer = Timer()
        stream = await client.post("/ai/stream", json={"prompt": SKU_QUESTION})
        assert timer.elapsed < STORE_BUDGET_S
        events = parse_sse(stream.text)
        assert names(events)[0] == "metadata" and names(events)[-1] == "error"
        assert "end" not in names(events)
        assert events[-1][1]["code"] == "store_unavailable"

        timer = Timer()
        invoke = await client.post("/agent/invoke", json=agent_body("agent-t", SKU_QUESTION))
        assert timer.elapsed < STORE_BUDGET_S
        assert_error(invoke, 503, "store_unavailable")

        batch = await client.post(
            "/agent/batch",
            json={
                "inputs": [agent_body("b1", SKU_QUESTION)["input"]],
                "config": [{"configurable": {"thread_id": "b1"}}],
            },
        )
        assert_error(batch, 503, "store_unavailable")

        timer = Timer()
        ready = await client.get("/readyz")
        assert timer.elapsed < STORE_BUDGET_S
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"]["status"] == "error"
        assert ready.json()["checks"]["checkpointer"]["status"] == "ok"
        assert ready.json()["error"]["code"]

        # Nothing of the failed turns was kept: the earlier session is intact, no new session.
        assert await history(client, "kept") == [SKU_QUESTION, first.json()["message"]]
        assert [m.id for m in await raw_messages(app, "kept")] == kept  # prompt rolled back
        assert sorted(await listed(client)) == sorted(before)
        assert (await client.get("/healthz")).status_code == 200  # the process still serves
    assert len(app.state.turn_locks) == 0


# --------------------------------------------------------------------------------------------
# The model times out / is rate limited (the real ChatOpenAI against the OpenAI stub)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    clean_model_env(monkeypatch)
    with OpenAIStub(api_key=STUB_KEY) as server:
        yield server


def stub_settings(settings: Settings, stub: OpenAIStub, **overrides: Any) -> Settings:
    """The test settings with the OpenAI provider pointed at the stub."""
    values: dict[str, Any] = {
        "model": "openai",
        "openai_base_url": stub.openai_base_url,
        "openai_api_key": SecretStr(STUB_KEY),
        "openai_model": "stub-gpt",
        "model_timeout_s": MODEL_TIMEOUT_S,
        "model_max_retries": 0,
        **overrides,
    }
    updated = settings.model_copy(update=values)
    assert updated.resolved_model == "openai"
    return updated


async def test_model_timeout_is_504(
    open_app: AppFactory, settings: Settings, stub: OpenAIStub
) -> None:
    settings = stub_settings(settings, stub)
    async with (
        open_app(build_chat_model(settings), settings=settings) as app,
        asgi_client(app) as client,
    ):
        ok = await client.post("/ai", json={"session_id": "kept", "prompt": SKU_QUESTION})
        assert ok.status_code == 200 and SKU_ANSWER in ok.json()["message"]  # the stub works
        kept = [m.id for m in await raw_messages(app, "kept")]

        stub.fail_next(Failure.hang(seconds=15))
        timer = Timer()
        response = await client.post("/ai", json={"prompt": SKU_QUESTION})
        assert timer.elapsed < MODEL_TIMEOUT_S + 2, timer.elapsed
        error = assert_error(response, 504, "model_timeout")
        assert f"{MODEL_TIMEOUT_S:g} s" in error["message"]
        assert STUB_KEY not in response.text

        stub.fail_next(Failure.hang(seconds=15))
        timer = Timer()
        stream = await client.post(
            "/ai/stream", json={"session_id": "kept", "prompt": "And its category?"}
        )
        assert timer.elapsed < MODEL_TIMEOUT_S + 2, timer.elapsed
        events = parse_sse(stream.text)
        assert names(events) == ["metadata", "error"]
        assert events[1][1]["code"] == "model_timeout"

        stub.fail_next(Failure.hang(seconds=15))
        invoke = await client.post("/agent/invoke", json=agent_body("agent-t", SKU_QUESTION))
        assert_error(invoke, 504, "model_timeout")

        assert await listed(client) == ["kept"]
        assert await history(client, "kept") == [SKU_QUESTION, ok.json()["message"]]
        assert [m.id for m in await raw_messages(app, "kept")] == kept  # prompt rolled back
    assert [r.outcome for r in stub.chat_requests()].count("hang") == 3


async def test_model_rate_limited_after_retries_is_503_with_retry_after(
    open_app: AppFactory, settings: Settings, stub: OpenAIStub
) -> None:
    retries = 2
    settings = stub_settings(settings, stub, model_max_retries=retries, model_timeout_s=10.0)
    async with (
        open_app(build_chat_model(settings), settings=settings) as app,
        asgi_client(app) as client,
    ):
        stub.fail_next(*[Failure.rate_limit()] * (retries + 1))
        response = await client.post("/ai", json={"session_id": "s", "prompt": SKU_QUESTION})
        assert_error(response, 503, "model_rate_limited")
        assert int(response.headers["retry-after"]) > 0
        assert [r.outcome for r in stub.chat_requests()] == ["status:429"] * (retries + 1)

        stub.fail_next(*[Failure.rate_limit()] * (retries + 1))
        stream = await client.post("/ai/stream", json={"prompt": SKU_QUESTION})
        events = parse_sse(stream.text)
        assert names(events) == ["metadata", "error"]
        assert events[1][1]["code"] == "model_rate_limited"

        stub.fail_next(*[Failure.rate_limit()] * (retries + 1))
        invoke = await client.post("/agent/invoke", json=agent_body("agent-r", SKU_QUESTION))
        assert_error(invoke, 503, "model_rate_limited")
        assert int(invoke.headers["retry-after"]) > 0
        assert await listed(client) == []

        # Fewer 429s than retries: the client never notices.
        stub.fail_next(Failure.rate_limit())
        recovered = await client.post("/ai", json={"session_id": "s", "prompt": SKU_QUESTION})
        assert recovered.status_code == 200, recovered.text
        assert SKU_ANSWER in recovered.json()["message"]
        assert await history(client, "s") == [SKU_QUESTION, recovered.json()["message"]]
    assert len(app.state.turn_locks) == 0


# --------------------------------------------------------------------------------------------
# A tool raises
# --------------------------------------------------------------------------------------------


async def _broken_lookup(sku: str) -> None:
    raise RuntimeError("disk on fire at /srv/secret/catalog")


async def test_a_raising_tool_becomes_an_error_message_and_the_agent_answers(
    open_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_app() as app, asgi_client(app) as client:
        monkeypatch.setattr(app.state.runtime.store, "get_product_by_sku", _broken_lookup)

        response = await client.post("/ai", json={"session_id": "t", "prompt": SKU_QUESTION})
        assert response.status_code == 200, response.text
        answer = response.json()["message"]
        assert "lookup failed" in answer  # the offline model relays the failure politely
        assert "disk on fire" not in response.text and "/srv/secret" not in response.text

        messages = await raw_messages(app, "t")
        errors = [m for m in messages if isinstance(m, ToolMessage) and m.status == "error"]
        assert [m.name for m in errors] == ["get_product_by_sku"]
        assert "disk on fire" in str(errors[0].content)  # the model saw what happened
        assert isinstance(messages[-1], AIMessage) and messages[-1].text == answer

        stream = await client.post("/ai/stream", json={"session_id": "t", "prompt": SKU_QUESTION})
        events = parse_sse(stream.text)
        assert names(events)[:3] == ["metadata", "tool_start", "tool_end"]
        assert names(events)[-1] == "end" and "error" not in names(events)
        assert "disk on fire" not in stream.text

        monkeypatch.undo()  # the tool works again: so does the session
        fixed = await client.post("/ai", json={"session_id": "t", "prompt": SKU_QUESTION})
        assert SKU_ANSWER in fixed.json()["message"]
        assert len(await history(client, "t")) == 6


async def test_a_raising_tool_reaches_a_tool_calling_model_as_an_error_result(
    open_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same over HTTP with a scripted model: the model's next call holds the error."""
    model = ScriptedChatModel(
        script=[
            tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}, "c1"),
            AIMessage("Sorry, I could not look that up."),
        ]
    )
    async with open_app(model) as app, asgi_client(app) as client:
        monkeypatch.setattr(app.state.runtime.store, "get_product_by_sku", _broken_lookup)
        response = await client.post("/agent/invoke", json=agent_body("tool-t", SKU_QUESTION))
    assert response.status_code == 200, response.text
    assert response.json()["output"]["messages"][-1]["content"] == (
        "Sorry, I could not look that up."
    )
    result = model.calls[-1][-1]
    assert isinstance(result, ToolMessage) and result.status == "error"
    assert result.tool_call_id == "c1"


# --------------------------------------------------------------------------------------------
# Real uvicorn: client disconnect, SIGKILL mid-turn
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def served(data_dir: Path, factory: str, **env: str) -> Iterator[Server]:
    """uvicorn serving the app `factory` over `data_dir`, stopped (if still alive) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / f"uvicorn-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=data_dir,
            env=server_env(data_dir, **env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_healthy(url, process, log)
        yield Server(url, process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def open_stream(url: str, body: dict[str, Any]) -> Iterator[Iterator[Event]]:
    """POST /ai/stream on a connection of its own; leaving the block closes that connection."""
    with (
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream("POST", "/ai/stream", json=body) as response,
    ):
        assert response.status_code == 200

        def events() -> Iterator[Event]:
            block: list[str] = []
            for line in response.iter_lines():
                if line:
                    block.append(line)
                    continue
                yield from parse_sse("\n".join(block) + "\n\n")
                block = []

        yield events()


def read_until(events: Iterator[Event], name: str, count: int = 1) -> list[Event]:
    seen: list[Event] = []
    for event in events:
        seen.append(event)
        if sum(1 for n, _ in seen if n == name) >= count:
            return seen
        assert event[0] not in ("end", "error"), seen
    raise AssertionError(f"the stream ended before {count} {name!r} events: {seen}")


@pytest.mark.slow
def test_client_disconnect_over_a_socket_cancels_the_turn_within_a_second(
    data_dir: Path,
) -> None:
    with (
        served(data_dir, SLOW_FACTORY) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert client.post("/ai", json={"session_id": "d", "prompt": "q1"}).status_code == 200
        with open_stream(server.url, {"session_id": "d", "prompt": f"{SLOW_MARKER} q2"}) as ev:
            seen = read_until(ev, "token", count=3)
        left = Timer()  # the connection is closed; the turn had ~10 s of answer left
        assert names(seen)[:3] == ["metadata", "tool_start", "tool_end"]

        # The next turn on the session waits for the cancelled one to release the session
        # (after its rollback): it is answered quickly only if the cancellation was quick.
        third = client.post("/ai", json={"session_id": "d", "prompt": "q3"})
        assert third.json()["message"] == "Answer to q3"
        assert left.elapsed < 1.0, left.elapsed

        loaded = client.get("/session/load/d").json()["history"]
        assert [item["content"] for item in loaded] == ["q1", "Answer to q1", "q3", "Answer to q3"]


def checkpointed_messages(data_dir: Path, thread_id: str) -> list[BaseMessage]:
    """The messages of the thread's latest checkpoint, read straight from the SQLite file."""

    async def read() -> list[BaseMessage]:
        settings = Settings(_env_file=None, data_dir=data_dir, checkpointer="sqlite")
        async with open_checkpointer(settings) as saver:
            config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
            found = await saver.aget_tuple(config)  # type: ignore[arg-type]
        return [] if found is None else list(found.checkpoint["channel_values"]["messages"])

    return asyncio.run(read())


@pytest.mark.slow
@pytest.mark.parametrize("kill_point", ["tool", "answer"])
def test_sigkill_mid_turn_keeps_complete_turns_and_the_session_works_after_restart(
    data_dir: Path, kill_point: str
) -> None:
    """Killed while the tool runs, or while the answer streams."""
    slow_env = {TOOL_DELAY_ENV: "30"} if kill_point == "tool" else {}
    with served(data_dir, SLOW_FACTORY, **slow_env) as server:
        first = httpx.post(f"{server.url}/ai", json={"session_id": "k", "prompt": "q1"}, timeout=30)
        assert first.json()["message"] == "Answer to q1"
        with open_stream(server.url, {"session_id": "k", "prompt": f"{SLOW_MARKER} q2"}) as events:
            if kill_point == "tool":
                read_until(events, "tool_start")
                time.sleep(0.5)  # the tool call is checkpointed, the tool sleeps
            else:
                read_until(events, "token", count=3)
            server.process.kill()
            assert server.process.wait(timeout=10) == -9

    # What the killed process left: the complete turn only. Turns checkpoint when they end
    # (graphs.runtime.TURN_DURABILITY), so nothing of the unfinished one reached the disk.
    # (A half turn on disk, e.g. from a thread written elsewhere, is covered by the unit
    # tests of drop_unpaired_tool_calls and history_from_messages.)
    left = checkpointed_messages(data_dir, "k")
    assert [m.text for m in left] == ["q1", "Answer to q1"]

    with (
        served(data_dir, OFFLINE_FACTORY) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        assert [s["session_id"] for s in client.get("/session/list").json()] == ["k"]
        loaded = client.get("/session/load/k")
        assert loaded.status_code == 200
        assert [item["content"] for item in loaded.json()["history"]] == ["q1", "Answer to q1"]

        for route in ("/ai", "/ai/stream"):
            response = client.post(route, json={"session_id": "k", "prompt": SKU_QUESTION})
            assert response.status_code == 200, response.text
            assert SKU_ANSWER in response.text and "error" not in names(parse_sse(response.text))
        loaded = client.get("/session/load/k")
        history_after = [item["content"] for item in loaded.json()["history"]]
        assert history_after[:2] == ["q1", "Answer to q1"]
        assert history_after[2::2] == [SKU_QUESTION, SKU_QUESTION]
        assert all(SKU_ANSWER in answer for answer in history_after[3::2])
