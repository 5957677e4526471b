"""Structured logs, request ids, Prometheus metrics and run metadata (`app.logging`,
`app.observability`)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import httpx
import httpx2  # the HTTP client of the openai SDK
import openai
import pytest
from fastapi import FastAPI
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from app.logging import (
    JsonFormatter,
    Redactor,
    configure_logging,
    log_fields,
    remove_logging_handler,
    secret_values,
)
from app.observability import REQUEST_ID_PATTERN, UNMATCHED_ROUTE
from core.settings import Settings
from tests.fakes import AppFactory, ScriptedChatModel, asgi_client, echo_responder, tool_call

pytestmark = pytest.mark.timeout(900)

QUESTION = "What was the price of the product with sku `FR-R92B-58`?"
SECRET = "sk-test-0123456789abcdefSECRET"
API_KEY = "caller-key-0123456789abcdef"


# --- helpers -----------------------------------------------------------------------------------


class LogCapture:
    """The lines our handler writes, captured from a stream instead of stderr."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def by_logger(self, name: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["logger"] == name]


@pytest.fixture
def capture_logs() -> Iterator[Any]:
    """`capture_logs(settings, fmt="json")`: route our log handler to a buffer (after the
    app was created, which installs the stderr one), removed at the end of the test."""
    installed: list[logging.Handler] = []

    def start(settings: Settings, fmt: str = "json") -> LogCapture:
        capture = LogCapture()
        installed.append(
            configure_logging(fmt, "INFO", secrets=secret_values(settings), stream=capture.stream)
        )
        return capture

    yield start
    for handler in installed:
        remove_logging_handler(handler)


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return metric_samples(response.text)


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _timeout_error() -> openai.APITimeoutError:
    url = "https://contoso.openai.azure.com/openai/deployments/completions/chat/completions"
    return openai.APITimeoutError(request=httpx2.Request("POST", url))


class MetadataRecorder(AsyncCallbackHandler):
    """Records the metadata every chat model call runs with."""

    def __init__(self) -> None:
        super().__init__()
        self.metadata: list[dict[str, Any]] = []

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.metadata.append(dict(metadata or {}))


@pytest.fixture
def secret_settings(settings: Settings) -> Settings:
    """The test settings plus a provider key the service holds but must never log."""
    return settings.model_copy(update={"openai_api_key": SECRET})


@pytest.fixture
async def secret_app(open_app: AppFactory, secret_settings: Settings) -> AsyncIterator[FastAPI]:
    async with open_app(settings=secret_settings) as app:
        yield app


# --- JSON log lines ----------------------------------------------------------------------------


async def test_access_and_turn_lines_are_json_with_ids_and_timings(
    secret_app: FastAPI, secret_settings: Settings, capture_logs: Any
) -> None:
    logs = capture_logs(secret_settings)
    headers = {"X-Request-Id": "req-42", "Authorization": f"Bearer {API_KEY}", "X-API-Key": API_KEY}
    async with asgi_client(secret_app) as client:
        response = await client.post(
            "/ai?api_key=" + API_KEY, json={"prompt": QUESTION}, headers=headers
        )
    assert response.status_code == 200
    session_id = response.json()["session_id"]

    for line in logs.text.splitlines():
        json.loads(line)  # every line is one JSON object
    [access] = logs.by_logger("cosmic_works.access")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access["time"])
    assert access["level"] == "INFO"
    assert access["message"].startswith("POST /ai 200 ")
    assert access["request_id"] == "req-42"
    assert access["session_id"] == session_id
    assert UUID(access["run_id"])
    assert access["route"] == "/ai" and access["method"] == "POST" and access["path"] == "/ai"
    assert access["status"] == 200
    assert isinstance(access["latency_ms"], float) and access["latency_ms"] > 0
    assert access["tools"] == ["get_product_by_sku"]
    assert access["model_calls"] == 2 and access["model_latency_ms"] >= 0

    [turn] = logs.by_logger("cosmic_works.turn")
    assert turn["message"] == "turn finished" and turn["outcome"] == "ok"
    assert turn["request_id"] == "req-42"
    assert (turn["session_id"], turn["run_id"]) == (session_id, access["run_id"])
    assert turn["tools"] == ["get_product_by_sku"] and turn["model_calls"] == 2
    assert turn["duration_ms"] > 0

    # No prompt or answer text by default, and no key from the request or the settings.
    for forbidden in ("What was the price", "FR-R92B-58", "1431", API_KEY, SECRET, "Bearer"):
        assert forbidden not in logs.text, forbidden
    assert "prompt" not in turn and "answer" not in turn


async def test_prompts_answers_and_tool_arguments_only_with_log_prompts(
    open_app: AppFactory, settings: Settings, capture_logs: Any
) -> None:
    enabled = settings.model_copy(update={"log_prompts": True})
    async with open_app(settings=enabled) as app, asgi_client(app) as client:
        logs = capture_logs(enabled)
        response = await client.post("/ai", json={"prompt": QUESTION})
    assert response.status_code == 200
    [turn] = logs.by_logger("cosmic_works.turn")[-1:]
    assert turn["prompt"] == QUESTION
    assert "$1431.50" in turn["answer"]
    [tool] = [r for r in logs.by_logger("cosmic_works.turn") if r["message"].startswith("tool ")]
    assert tool["tool"] == "get_product_by_sku"
    assert tool["tool_input"] == {"sku": "FR-R92B-58"}


async def test_text_format_is_one_readable_line(
    client: httpx.AsyncClient, settings: Settings, capture_logs: Any
) -> None:
    logs = capture_logs(settings, fmt="text")
    await client.get("/session/list", headers={"X-Request-Id": "text-1"})
    [line] = [line for line in logs.text.splitlines() if "cosmic_works.access" in line]
    assert "GET /session/list 200" in line
    assert "request_id=text-1" in line and "route=/session/list" in line
    assert not line.startswith("{")


async def test_probes_are_logged_at_debug_unless_they_fail(
    client: httpx.AsyncClient, settings: Settings, capture_logs: Any
) -> None:
    logs = capture_logs(settings)
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/session/list")).status_code == 200
    assert [r["path"] for r in logs.by_logger("cosmic_works.access")] == ["/session/list"]


def test_redactor_hides_configured_secrets_tokens_and_url_passwords() -> None:
    redact = Redactor([SECRET, "short"])
    line = (
        f"key {SECRET} auth Bearer abcdef123456 "
        "mongodb+srv://app:p%40ss-w0rd@cluster.example.net/db short"
    )
    redacted = redact(line)
    assert SECRET not in redacted and "abcdef123456" not in redacted
    assert "p%40ss-w0rd" not in redacted
    assert "mongodb+srv://app:[REDACTED]@cluster.example.net/db" in redacted
    assert redacted.endswith("short")  # values too short to be keys are left alone


def test_secrets_in_messages_fields_and_tracebacks_are_redacted() -> None:
    settings = Settings(
        _env_file=None,
        azure_openai_api_key="azure-key-0123456789",
        mongodb_uri="mongodb://user:hunter2-password@db:27017",
        api_keys=f"alice:{API_KEY}",
    )
    formatter = JsonFormatter(Redactor(secret_values(settings)))
    try:
        raise RuntimeError("connect failed: mongodb://user:hunter2-password@db:27017")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "t",
            logging.ERROR,
            __file__,
            1,
            "key %s",
            ("azure-key-0123456789",),
            (type(exc), exc, exc.__traceback__),
        )
    record.fields = log_fields(presented=API_KEY)["fields"]
    line = formatter.format(record)
    for secret in ("azure-key-0123456789", "hunter2-password", API_KEY):
        assert secret not in line
    assert json.loads(line)["exception"].startswith("Traceback")


# --- X-Request-Id --------------------------------------------------------------------------------


async def test_request_id_is_echoed_generated_and_validated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-Id": "abc-123_x.y:z"})
    assert echoed.headers["x-request-id"] == "abc-123_x.y:z"

    generated = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert (
        generated.headers["x-request-id"] != (await client.get("/healthz")).headers["x-request-id"]
    )

    for bad in ("x" * 129, "has space", 'quote"', "semi;colon", "é"):
        response = await client.get("/healthz", headers={"X-Request-Id": bad.encode("utf-8")})
        assert response.headers["x-request-id"] != bad
        assert REQUEST_ID_PATTERN.fullmatch(response.headers["x-request-id"])


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/no/such/route", None, 404),
        ("POST", "/ai", {"prompt": ""}, 422),
        ("GET", "/session/load/unknown", None, 404),
        ("POST", "/ai/stream", {"prompt": "hello"}, 200),
        ("GET", "/metrics", None, 200),
        ("GET", "/chat", None, 200),
    ],
)
async def test_every_response_carries_the_request_id(
    client: httpx.AsyncClient, method: str, path: str, body: Any, status: int
) -> None:
    response = await client.request(method, path, json=body, headers={"X-Request-Id": "rid-1"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "rid-1"


async def test_cors_preflight_and_failures_carry_the_request_id(open_app: AppFactory) -> None:
    async with open_app(ScriptedChatModel(error=RuntimeError("boom"))) as app:
        async with asgi_client(app) as client:
            preflight = await client.options(
                "/ai",
                headers={
                    "Origin": "http://localhost:5173",
                    "Access-Control-Request-Method": "POST",
                    "X-Request-Id": "pre-1",
                },
            )
            failed = await client.post(
                "/ai", json={"prompt": "hi"}, headers={"X-Request-Id": "f-1"}
            )
    assert preflight.status_code == 200 and preflight.headers["x-request-id"] == "pre-1"
    assert failed.status_code == 500 and failed.headers["x-request-id"] == "f-1"


async def test_request_id_reaches_the_run_metadata(open_app: AppFactory) -> None:
    recorder = MetadataRecorder()
    model = ScriptedChatModel(responder=echo_responder(), callbacks=[recorder])
    async with open_app(model) as app, asgi_client(app) as client:
        await client.post("/ai", json={"prompt": "q1"}, headers={"X-Request-Id": "meta-ai"})
        await client.post("/ai/stream", json={"prompt": "q2"}, headers={"X-Request-Id": "meta-sse"})
        agent = await client.post(
            "/agent/invoke",
            json={
                "input": {"messages": [{"type": "human", "content": "q3"}]},
                "config": {"configurable": {"thread_id": "meta-thread"}},
            },
            headers={"X-Request-Id": "meta-agent"},
        )
    assert agent.status_code == 200, agent.text
    assert [m.get("request_id") for m in recorder.metadata] == ["meta-ai", "meta-sse", "meta-agent"]
    assert recorder.metadata[2]["thread_id"] == "meta-thread"
    assert all("owner" not in m for m in recorder.metadata)


# --- /metrics ----------------------------------------------------------------------------------


async def test_metrics_count_requests_tools_model_calls_and_turns(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/ai", json={"prompt": QUESTION})
    assert response.status_code == 200
    await client.get("/no/such/route")
    samples = await scrape(client)

    assert (
        value(samples, "cosmic_works_http_requests_total", route="/ai", method="POST", status="200")
        == 1
    )
    assert (
        value(
            samples,
            "cosmic_works_http_requests_total",
            route=UNMATCHED_ROUTE,
            method="GET",
            status="404",
        )
        == 1
    )
    assert (
        value(
            samples, "cosmic_works_http_request_duration_seconds_count", route="/ai", method="POST"
        )
        == 1
    )
    assert (
        value(samples, "cosmic_works_tool_calls_total", tool="get_product_by_sku", outcome="ok")
        == 1
    )
    assert (
        value(samples, "cosmic_works_tool_call_duration_seconds_count", tool="get_product_by_sku")
        == 1
    )
    assert value(samples, "cosmic_works_model_call_duration_seconds_count") == 2
    assert value(samples, "cosmic_works_model_call_duration_seconds_sum") > 0
    assert value(samples, "cosmic_works_turns_total", outcome="ok") == 1
    assert value(samples, "cosmic_works_sse_streams_active", route="/ai/stream") == 0
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


async def test_active_streams_gauge_rises_during_a_stream_and_returns_to_zero(
    open_app: AppFactory,
) -> None:
    model = ScriptedChatModel(script=[AIMessage(" ".join(["word"] * 40))], token_delay=0.02)
    async with open_app(model) as app, asgi_client(app) as plain:
        async with asgi_client(app, streaming=True) as streaming:
            async with streaming.stream("POST", "/ai/stream", json={"prompt": "hi"}) as response:
                chunks = response.aiter_text()
                await anext(chunks)  # the stream is open
                await asyncio.wait_for(model.started.wait(), timeout=10)
                during = await scrape(plain)
                body = "".join([chunk async for chunk in chunks])
        assert "event: end" in body
        after = await scrape(plain)
    assert value(during, "cosmic_works_sse_streams_active", route="/ai/stream") == 1
    assert value(after, "cosmic_works_sse_streams_active", route="/ai/stream") == 0
    assert (
        value(
            after,
            "cosmic_works_http_requests_total",
            route="/ai/stream",
            method="POST",
            status="200",
        )
        == 1
    )


async def test_model_errors_are_counted_by_code(open_app: AppFactory) -> None:
    async with open_app(ScriptedChatModel(error=_timeout_error())) as app:
        async with asgi_client(app) as client:
            assert (await client.post("/ai", json={"prompt": "hi"})).status_code == 504
            samples = await scrape(client)
    assert value(samples, "cosmic_works_model_errors_total", code="model_timeout") == 1
    assert value(samples, "cosmic_works_turns_total", outcome="error") == 1
    assert value(samples, "cosmic_works_model_call_duration_seconds_count") == 0
    assert (
        value(samples, "cosmic_works_http_requests_total", route="/ai", method="POST", status="504")
        == 1
    )


async def test_failing_tool_calls_are_counted_as_errors(open_app: AppFactory) -> None:
    model = ScriptedChatModel(
        script=[tool_call("get_product_by_sku", {}), AIMessage("I could not look that up.")]
    )
    async with open_app(model) as app, asgi_client(app) as client:
        assert (await client.post("/ai", json={"prompt": "hi"})).status_code == 200
        samples = await scrape(client)
    assert (
        value(samples, "cosmic_works_tool_calls_total", tool="get_product_by_sku", outcome="error")
        == 1
    )
    assert value(samples, "cosmic_works_turns_total", outcome="ok") == 1


async def test_each_app_has_its_own_registry(open_app: AppFactory) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model) as first, open_app(model) as second:
        assert first.state.metrics.registry is not second.state.metrics.registry
        async with asgi_client(first) as one, asgi_client(second) as two:
            await one.post("/ai", json={"prompt": "only on the first"})
            first_samples, second_samples = await scrape(one), await scrape(two)
    assert value(first_samples, "cosmic_works_turns_total", outcome="ok") == 1
    assert value(second_samples, "cosmic_works_turns_total", outcome="ok") == 0


async def test_the_run_handler_keeps_nothing_after_finished_and_cancelled_turns(
    open_app: AppFactory,
) -> None:
    model = ScriptedChatModel(
        script=[
            tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}),
            AIMessage("done"),
            tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}),
            AIMessage(" ".join(["word"] * 200)),
        ]
    )
    async with open_app(model) as app, asgi_client(app) as client:
        assert (await client.post("/ai", json={"prompt": "q1"})).status_code == 200
        model.token_delay = 0.02
        async with asgi_client(app, streaming=True) as streaming:
            async with streaming.stream("POST", "/ai/stream", json={"prompt": "q2"}) as response:
                async for text in response.aiter_text():
                    if "event: token" in text:
                        break  # the client goes away mid-answer
        await asyncio.wait_for(model.cancelled.wait(), timeout=10)
        handler = app.state.agent_callbacks
        for _ in range(100):
            if not handler._turns:
                break
            await asyncio.sleep(0.05)
        samples = await scrape(client)
    assert value(samples, "cosmic_works_turns_total", outcome="cancelled") == 1
    assert value(samples, "cosmic_works_turns_total", outcome="ok") == 1
    assert value(samples, "cosmic_works_sse_streams_active", route="/ai/stream") == 0
    assert not handler._turns and not handler._parent
    assert not handler._model_started and not handler._tool_started


def test_the_access_middleware_is_the_outermost(settings: Settings) -> None:
    """Added after auth, limits and CORS: their answers get request ids and access lines."""
    from app.main import create_app
    from app.observability import ObservabilityMiddleware

    app = create_app(settings)
    assert app.user_middleware[0].cls is ObservabilityMiddleware
    assert sum(m.cls is ObservabilityMiddleware for m in app.user_middleware) == 1


async def test_unauthorized_answers_carry_the_request_id_and_are_logged(
    open_app: AppFactory, settings: Settings, capture_logs: Any
) -> None:
    keyed = settings.model_copy(update={"api_keys": SecretStr(f"alice:{API_KEY}")})
    async with open_app(settings=keyed) as app, asgi_client(app) as client:
        logs = capture_logs(keyed)
        refused = await client.get("/session/list", headers={"X-Request-Id": "no-key-1"})
        wrong = await client.get(
            "/session/list", headers={"Authorization": "Bearer wrong-key-0123456789abcdef"}
        )
        allowed = await client.get("/session/list", headers={"Authorization": f"Bearer {API_KEY}"})
    assert refused.status_code == wrong.status_code == 401
    assert allowed.status_code == 200
    assert refused.headers["x-request-id"] == "no-key-1"
    statuses = [(r["request_id"], r["status"]) for r in logs.by_logger("cosmic_works.access")]
    assert statuses[0] == ("no-key-1", 401) and [s for _, s in statuses] == [401, 401, 200]
    assert API_KEY not in logs.text and "wrong-key-0123456789abcdef" not in logs.text
