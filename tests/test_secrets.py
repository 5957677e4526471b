"""No secret leaves the service: a conversation touching every tool, over every route, with
API keys, model keys and a MongoDB password configured, and everything it produced searched
for them.

Secrets: every customer's `password.hash` and `password.salt` in the bundled sample (the
loader strips them; this proves they never come back), the API keys of
`COSMIC_WORKS_API_KEYS`, the model keys (`AZURE_OPENAI_API_KEY`, `OPENAI_API_KEY`) and the
password inside `MONGODB_URI`.

Searched: every HTTP response (status line, headers and body; SSE streams whole), every
message checkpointed in every conversation (tool results, tool-call arguments, answers),
every log record of every logger at DEBUG (with tracebacks), and stdout/stderr.

The model is scripted (`tests.fakes.ScriptedChatModel`): a prompt `call <tool> <json args>`
makes it call that tool, and it then answers with the tool's whole JSON, so what a tool returns
also travels through the answers, the SSE tokens and the LangServe outputs. A second app runs
the offline model's own routing over customers and orders.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2  # the HTTP client of the openai SDK
import openai
import pytest
from fastapi import FastAPI
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from app.main import create_app
from catalog.loader import SAMPLE_CUSTOMERS, sample_path
from core.settings import Settings
from tests.fakes import ScriptedChatModel, tool_call
from tools.catalog_tools import TOOL_NAMES

pytestmark = pytest.mark.timeout(900)

ALICE_KEY = "alice-api-key-5f2b9c7e1d"
BOB_KEY = "bob-api-key-9a8d7c6b5e4f"
AZURE_KEY = "azure-model-key-0e1d2c3b4a59687"
OPENAI_KEY = "sk-openai-model-key-7f6e5d4c3b2a"
MONGO_PASSWORD = "m0ng0-Pa55w0rd-s3cret"
MONGODB_URI = f"mongodb://cosmic:{MONGO_PASSWORD}@mongo.invalid:27017/?authSource=admin"
FAIL_PROMPT = "fail with the provider's authentication error"


# --------------------------------------------------------------------------------------------
# The sample's secrets and the place everything is collected
# --------------------------------------------------------------------------------------------


def _sample_customers() -> list[dict[str, Any]]:
    documents = json.loads(sample_path(SAMPLE_CUSTOMERS).read_text(encoding="utf-8-sig"))
    return [d for d in documents if d.get("type") == "customer"]


CUSTOMERS = _sample_customers()
HASHES = [c["password"]["hash"] for c in CUSTOMERS if c.get("password")]
SALTS = [c["password"]["salt"] for c in CUSTOMERS if c.get("password")]
CONFIG_SECRETS = {
    "API key (alice)": ALICE_KEY,
    "API key (bob)": BOB_KEY,
    "Azure OpenAI key": AZURE_KEY,
    "OpenAI key": OPENAI_KEY,
    "MongoDB password": MONGO_PASSWORD,
}
# Salts are 8 hex digits: look for them as whole tokens so that an id or a number that merely
# contains the same digits is not reported.
SALT_RE = re.compile(r"(?<![0-9A-Za-z])(?:" + "|".join(map(re.escape, SALTS)) + r")(?![0-9A-Za-z])")


class Evidence:
    """Every text the service produced, by where it came from."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.items.append((where, text))

    def response(self, response: httpx.Response) -> httpx.Response:
        request = response.request
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        self.add(
            f"HTTP {request.method} {request.url.path} -> {response.status_code}",
            f"{response.status_code}\n{headers}\n\n{response.text}",
        )
        return response

    def leaks(self) -> list[str]:
        found: list[str] = []
        for where, text in self.items:
            for label, secret in CONFIG_SECRETS.items():
                if secret in text:
                    found.append(f"{label} in {where}")
            for value in HASHES:
                if value in text:
                    found.append(f"a customer's password hash in {where}")
                    break
            match = SALT_RE.search(text)
            if match:
                found.append(f"a customer's salt {match.group(0)!r} in {where}")
        return found


def test_the_secret_lists_are_real() -> None:
    assert len(HASHES) == len(SALTS) == len(CUSTOMERS) == 400
    assert all(len(h) > 40 for h in HASHES)


def test_the_detector_finds_each_kind_of_secret() -> None:
    for planted in (
        *CONFIG_SECRETS.values(),
        HASHES[7],
        f'"salt": "{SALTS[7]}"',
        f"salt={SALTS[-1]};",
    ):
        evidence = Evidence()
        evidence.add("somewhere", f"before {planted} after")
        assert evidence.leaks(), planted
    clean = Evidence()
    clean.add("ids", f"x{SALTS[7]}y 1{SALTS[7]} {SALTS[7]}0")  # inside longer tokens
    assert not clean.leaks()


# --------------------------------------------------------------------------------------------
# The app, configured with every kind of secret
# --------------------------------------------------------------------------------------------


@pytest.fixture
def secret_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_store_path: Path
) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sample_store_path, data_dir / "catalog.sqlite")
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("COSMIC_WORKS_API_KEYS", f"alice:{ALICE_KEY},bob:{BOB_KEY}")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("MONGODB_URI", MONGODB_URI)
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        model="offline",
        embeddings="local",
        store="sqlite",
        checkpointer="sqlite",
    )
    assert settings.api_keys is not None and settings.azure_openai_api_key is not None
    assert settings.mongodb_uri is not None and settings.openai_api_key is not None
    return settings


@pytest.fixture
def all_logs_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG for the root and for every logger that sets its own level."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def _auth_failure() -> openai.AuthenticationError:
    """What a provider says about a bad key: OpenAI quotes it masked (first 8 and last 4
    characters). The full key must not show up anywhere, nor the provider's wording in a
    response (clients get our own message)."""
    request = httpx2.Request("POST", "https://example.openai.azure.com/openai/deployments/x")
    response = httpx2.Response(401, request=request)
    masked = f"{AZURE_KEY[:8]}{'*' * (len(AZURE_KEY) - 12)}{AZURE_KEY[-4:]}"
    message = f"Incorrect API key provided: {masked}."
    return openai.AuthenticationError(
        message, response=response, body={"error": {"message": message}}
    )


def scripted_responder(messages: list[BaseMessage]) -> AIMessage:
    """`call <tool> <json args>` calls the tool; after a tool result, answer with it whole."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(content=f"The tool {last.name} answered: {last.content}")
    text = last.text if isinstance(last, HumanMessage) else ""
    if text == FAIL_PROMPT:
        raise _auth_failure()
    if text.startswith("call "):
        _, name, args = text.split(" ", 2)
        return tool_call(name, json.loads(args), call_id=f"call_{name}")
    return AIMessage(content=f"You said: {text}")


@pytest.fixture
async def scripted_app(secret_settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(secret_settings, model=ScriptedChatModel(responder=scripted_responder))
    async with app.router.lifespan_context(app):
        yield app


def _client(app: FastAPI, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
    )


def _agent_body(prompt: str, thread_id: str) -> dict[str, Any]:
    return {
        "input": {"messages": [{"type": "human", "content": prompt}]},
        "config": {"configurable": {"thread_id": thread_id}},
    }


def _call(tool: str, **args: Any) -> str:
    return f"call {tool} {json.dumps(args)}"


async def _checkpointed(app: FastAPI, evidence: Evidence, thread_ids: set[str]) -> set[str]:
    """Add every stored message of the threads; return the names of tools that answered."""
    answered: set[str] = set()
    runtime = app.state.runtime
    for thread_id in sorted(thread_ids):
        snapshot = await runtime.graph.aget_state({"configurable": {"thread_id": thread_id}})
        for message in snapshot.values.get("messages", []):
            evidence.add(f"checkpoint {thread_id} {message.type}", message.model_dump_json())
            if isinstance(message, ToolMessage) and message.status != "error":
                assert '"error":"not_found"' not in str(message.content), message.content
                answered.add(str(message.name))
    return answered


# --------------------------------------------------------------------------------------------
# The conversation
# --------------------------------------------------------------------------------------------


async def test_no_secret_in_responses_events_checkpoints_or_logs(
    scripted_app: FastAPI,
    all_logs_at_debug: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = scripted_app
    evidence = Evidence()
    customer = CUSTOMERS[0]
    order_id = "04948666-fccf-4775-88ba-6adf8ccb31fd"  # the first customer's first order
    product = {"id": "2059c337-66d5-436a-a374-3ba72b325924", "sku": "BK-R93R-44"}
    threads: set[str] = set()

    async with _client(app, ALICE_KEY) as alice, _client(app, BOB_KEY) as bob:
        # /ai: a customer search wide enough to return many customer documents
        first = evidence.response(
            await alice.post(
                "/ai",
                json={"prompt": _call("vector_search_customers", query="Martin Gold Coast", k=10)},
            )
        )
        assert first.status_code == 200, first.text
        assert customer["emailAddress"] in first.text  # the customer did come back
        session = first.json()["session_id"]
        threads.add(session)

        # /ai/stream: one customer by id, on the same session (SSE: tool events, tokens, end)
        streamed = evidence.response(
            await alice.post(
                "/ai/stream",
                json={
                    "session_id": session,
                    "prompt": _call("get_customer_by_id", id=customer["id"]),
                },
            )
        )
        assert streamed.status_code == 200 and "event: end" in streamed.text

        # LangServe: each endpoint with another tool
        runs = [
            (
                "invoke",
                "t-sales",
                _call("vector_search_sales", query="tire", customer_id=customer["id"]),
            ),
            ("stream", "t-order", _call("get_sales_by_id", id=order_id)),
            (
                "stream_events",
                "t-products",
                _call("vector_search_products", query="road bike", k=5),
            ),
            ("stream_log", "t-sku", _call("get_product_by_sku", sku=product["sku"])),
        ]
        for endpoint, thread_id, prompt in runs:
            response = evidence.response(
                await alice.post(f"/agent/{endpoint}", json=_agent_body(prompt, thread_id))
            )
            assert response.status_code == 200, response.text
            threads.add(thread_id)
        batch = evidence.response(
            await alice.post(
                "/agent/batch",
                json={
                    "inputs": [
                        {
                            "messages": [
                                {
                                    "type": "human",
                                    "content": _call("get_product_by_id", id=product["id"]),
                                }
                            ]
                        },
                        {
                            "messages": [
                                {
                                    "type": "human",
                                    "content": _call("get_customer_by_id", id=CUSTOMERS[1]["id"]),
                                }
                            ]
                        },
                    ],
                    "config": [
                        {"configurable": {"thread_id": "t-batch-1"}},
                        {"configurable": {"thread_id": "t-batch-2"}},
                    ],
                },
            )
        )
        assert batch.status_code == 200, batch.text
        threads.update({"t-batch-1", "t-batch-2"})

        # the same data read back: session routes, as the owner and as someone else
        evidence.response(await alice.get("/session/list"))
        for thread_id in sorted(threads):
            evidence.response(await alice.get(f"/session/load/{thread_id}"))
        assert evidence.response(await bob.get(f"/session/load/{session}")).status_code == 404
        evidence.response(await bob.post("/agent/invoke", json=_agent_body("hi", "t-sales")))

        # a provider failure whose message quotes the model key and the connection string
        for path, body in (
            ("/ai", {"prompt": FAIL_PROMPT}),
            ("/ai/stream", {"prompt": FAIL_PROMPT}),
        ):
            failed = evidence.response(await alice.post(path, json=body))
            assert "model_auth_failed" in failed.text, failed.text
            assert "Incorrect API key" not in failed.text
        for endpoint in ("invoke", "stream_events"):
            failed = evidence.response(
                await alice.post(f"/agent/{endpoint}", json=_agent_body(FAIL_PROMPT, "t-fail"))
            )
            assert "model_auth_failed" in failed.text, failed.text
            assert "Incorrect API key" not in failed.text

        # error bodies: no key, wrong keys close to the real ones, invalid values made of secrets
        async with _client(app, None) as anonymous:
            for response in (
                await anonymous.get("/session/list"),
                await anonymous.get("/session/list", headers={"X-API-Key": ALICE_KEY[:-1]}),
                await anonymous.get(
                    "/session/list", headers={"Authorization": f"Bearer {BOB_KEY}x"}
                ),
                await anonymous.post("/auth/login", data={"key": AZURE_KEY}),
            ):
                assert evidence.response(response).status_code == 401
            login = evidence.response(await anonymous.post("/auth/login", data={"key": BOB_KEY}))
            assert login.status_code == 303
            for path in ("/", "/healthz", "/readyz", "/openapi.json"):
                assert evidence.response(await anonymous.get(path)).status_code == 200
        for response in (
            await alice.post("/ai", json={"session_id": f"{ALICE_KEY}!", "prompt": MONGODB_URI}),
            await alice.post("/ai", json={"session_id": "ok", "prompt": AZURE_KEY * 200}),
            await alice.post("/ai", json={"session_id": SALTS[0] + " ", "prompt": HASHES[0] * 50}),
            await alice.post("/agent/invoke", json=_agent_body(OPENAI_KEY * 300, f"{BOB_KEY}/")),
            await alice.get("/session/load/not!an!id"),  # (a URL is logged: no secret in it)
            await alice.post(
                "/ai", content=b"x" * 70_000, headers={"content-type": "application/json"}
            ),
        ):
            assert evidence.response(response).status_code in (413, 422), response.text

    answered = await _checkpointed(app, evidence, threads)
    assert answered == set(TOOL_NAMES), set(TOOL_NAMES) - answered

    await _collect_logs_and_output(evidence, all_logs_at_debug, capsys)
    assert not evidence.leaks(), evidence.leaks()


async def test_offline_model_conversation_leaks_nothing(
    secret_settings: Settings,
    all_logs_at_debug: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The offline model's own routing over customers and orders, through /ai and /ai/stream."""
    evidence = Evidence()
    app = create_app(secret_settings)
    async with app.router.lifespan_context(app), _client(app, ALICE_KEY) as alice:
        session = None
        for path, prompt in (
            ("/ai", "Which customers are called Martin?"),
            ("/ai/stream", f"Show me customer {CUSTOMERS[0]['id']}"),
            ("/ai", "What did they order?"),
            (
                "/ai/stream",
                f"What did {CUSTOMERS[2]['firstName']} {CUSTOMERS[2]['lastName']} order?",
            ),
            ("/ai", "What was the price of the product with sku `FR-R92B-58`?"),
        ):
            body: dict[str, Any] = {"prompt": prompt}
            if session:
                body["session_id"] = session
            response = evidence.response(await alice.post(path, json=body))
            assert response.status_code == 200, response.text
            if path == "/ai":
                session = response.json()["session_id"]
        evidence.response(await alice.get(f"/session/load/{session}"))
        assert session is not None
        answered = await _checkpointed(app, evidence, {session})
    assert {"vector_search_customers", "get_customer_by_id", "vector_search_sales"} <= answered
    await _collect_logs_and_output(evidence, all_logs_at_debug, capsys)
    assert not evidence.leaks(), evidence.leaks()


async def _collect_logs_and_output(
    evidence: Evidence, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = caplog.records
    assert records, "nothing was logged: the log capture is not working"
    for record in records:
        evidence.add(f"log {record.name} {record.levelname}", formatter.format(record))
    captured = capsys.readouterr()
    evidence.add("stdout", captured.out)
    evidence.add("stderr", captured.err)
