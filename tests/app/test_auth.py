"""API keys (`COSMIC_WORKS_API_KEYS`): who may call what, per-principal isolation of sessions
and LangServe threads, the playground's cookie login, and the open-mode network warning."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.messages import HumanMessage
from pydantic import SecretStr, ValidationError

from app import auth
from app.auth import COOKIE_NAME, ApiKeys, is_loopback, warn_if_open_on_network
from app.main import create_app
from app.turns import turn_locks
from core.settings import Settings, parse_api_keys
from tests.fakes import AppFactory, ScriptedChatModel, echo_responder

pytestmark = pytest.mark.timeout(900)

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key:with-colon-0123456789"
API_KEYS = f"alice:{ALICE_KEY}, bob:{BOB_KEY}"
ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"


@pytest.fixture
def auth_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_keys": SecretStr(API_KEYS)})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def client_for(app: FastAPI, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=kwargs.pop("base_url", "http://testserver"), **kwargs
    ) as client:
        yield client


def assert_unauthorized(response: httpx.Response, *, invalid: bool = False) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "unauthorized"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert ('error="invalid_token"' in challenge) is invalid


def run_body(text: str, thread_id: str) -> dict[str, Any]:
    return {
        "input": {"messages": [{"type": "human", "content": text}]},
        "config": {"configurable": {"thread_id": thread_id}},
    }


# --------------------------------------------------------------------------------------------
# Parsing COSMIC_WORKS_API_KEYS
# --------------------------------------------------------------------------------------------


def test_keys_are_parsed_into_principals() -> None:
    principals = parse_api_keys(f" alice:{ALICE_KEY} ,bob:{BOB_KEY},")
    assert {name: key.get_secret_value() for name, key in principals.items()} == {
        "alice": ALICE_KEY,
        "bob": BOB_KEY,  # a key may hold ':'
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "holds no name:key entry"),
        (" , ", "holds no name:key entry"),
        ("secret-without-a-name-0123456789", "entry 1 of 1 is not name:key"),
        (f"alice:{ALICE_KEY},:secret-without-a-name-0123", "entry 2 of 2 is not name:key"),
        ("alice:short-secret", "16-512 visible ASCII"),
        ("alice:has a space in the secret 0123", "16-512 visible ASCII"),
        ("bad name:secret-with-a-bad-name-0123", "the name must be"),
        (f"alice:{ALICE_KEY},alice:other-secret-0123456789", "'alice' appears more than once"),
        (f"alice:{ALICE_KEY},bob:{ALICE_KEY}", "share one key"),
    ],
)
def test_malformed_keys_are_refused_at_startup_without_echoing_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, value: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("COSMIC_WORKS_API_KEYS", value)
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, data_dir=tmp_path)
    text = str(raised.value)
    assert "COSMIC_WORKS_API_KEYS" in text and expected in text
    for secret in ("secret", ALICE_KEY, "short-secret"):
        assert secret not in text
    # create_app (what uvicorn's factory calls) refuses to start the same way
    with pytest.raises(ValidationError):
        create_app()


def test_the_cli_reports_a_bad_key_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from app import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COSMIC_WORKS_API_KEYS", "alice:too-short")
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not serve"))
    assert cli.main(["serve"]) == cli.EXIT_FATAL
    err = capsys.readouterr().err
    assert "COSMIC_WORKS_API_KEYS" in err and "too-short" not in err


def test_every_key_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ApiKeys(parse_api_keys(API_KEYS))
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    assert keys.principal_for(ALICE_KEY) == "alice"
    assert keys.principal_for(BOB_KEY) == "bob"
    assert keys.principal_for(ALICE_KEY[:-1]) is None
    assert keys.principal_for(ALICE_KEY + "x") is None
    assert keys.principal_for("") is None
    assert len(calls) == 5 * len(keys)  # no early exit, whichever key matches
    assert {len(a) for a, _ in calls} == {32}  # fixed-length digests, never raw keys


# --------------------------------------------------------------------------------------------
# Which routes need a key
# --------------------------------------------------------------------------------------------

PROTECTED = [
    ("POST", "/ai", {"prompt": "hi"}),
    ("POST", "/ai/stream", {"prompt": "hi"}),
    ("GET", "/session/list", None),
    ("GET", "/session/load/abc", None),
    ("DELETE", "/session/abc", None),
    ("POST", "/agent/invoke", run_body("hi", "t-1")),
    ("POST", "/agent/batch", {"inputs": [run_body("hi", "t-1")["input"]]}),
    ("POST", "/agent/stream", run_body("hi", "t-1")),
    ("POST", "/agent/stream_events", run_body("hi", "t-1")),
    ("POST", "/agent/stream_log", run_body("hi", "t-1")),
    ("GET", "/agent/input_schema", None),
    ("GET", "/agent/config_schema", None),
    ("GET", "/agent/playground/", None),
    ("GET", "/agent/playground/index.html", None),
    ("GET", "/metrics", None),
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", {"model": "x", "messages": []}),
    ("GET", "/auth/other", None),
    ("GET", "/healthz/", None),  # only the exact public paths are public
    ("GET", "/no/such/route", None),
]


async def test_without_keys_everything_is_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/session/list")).status_code == 200
    assert (await client.get("/agent/input_schema")).status_code == 200
    login = await client.get("/auth/login")  # nothing to log into: straight to the playground
    assert login.status_code == 303 and login.headers["location"] == "/agent/playground/"


async def test_public_routes_need_no_key(open_app: AppFactory, auth_settings: Settings) -> None:
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        for path in ("/", "/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
        schema = (await client.get("/openapi.json")).json()
        assert set(schema["components"]["securitySchemes"]) == {"bearerKey", "headerKey"}
        assert schema["paths"]["/healthz"]["get"]["security"] == []
        assert "security" not in schema["paths"]["/ai"]["post"]  # the global rule applies
        assert (await client.get("/auth/login")).status_code == 200


async def test_the_chat_page_loads_without_a_key(
    open_app: AppFactory, auth_settings: Settings
) -> None:
    from app.routes import chat_page

    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        for path in sorted(chat_page.PUBLIC_PATHS):
            assert (await client.get(path)).status_code == 200, path
        assert_unauthorized(await client.get("/chat/static/other.js"))


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
async def test_protected_routes_answer_401_json(
    open_app: AppFactory,
    auth_settings: Settings,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        assert_unauthorized(await client.request(method, path, json=body))
        wrong = await client.request(method, path, json=body, headers=bearer("x" * 24))
        assert_unauthorized(wrong, invalid=True)
        assert "x" * 24 not in wrong.text
        wrong_header = await client.request(
            method, path, json=body, headers={"X-API-Key": ALICE_KEY[:-1]}
        )
        assert_unauthorized(wrong_header, invalid=True)
        basic = await client.request(
            method, path, json=body, headers={"Authorization": "Basic YWxpY2U6eA=="}
        )
        assert_unauthorized(basic, invalid=True)


async def test_both_headers_and_any_scheme_case_are_accepted(
    open_app: AppFactory, auth_settings: Settings
) -> None:
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        for headers in (
            bearer(ALICE_KEY),
            {"Authorization": f"bearer  {ALICE_KEY} "},
            {"X-API-Key": ALICE_KEY},
            {"X-API-Key": BOB_KEY},
        ):
            response = await client.get("/session/list", headers=headers)
            assert response.status_code == 200, (headers, response.text)
        # a wrong bearer token is not rescued by a right X-API-Key: one credential per request
        mixed = {**bearer("y" * 20), "X-API-Key": ALICE_KEY}
        assert_unauthorized(await client.get("/session/list", headers=mixed), invalid=True)


async def test_401_carries_cors_headers_and_preflight_needs_no_key(
    open_app: AppFactory, auth_settings: Settings
) -> None:
    origin = {"Origin": "http://localhost:3000"}
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        refused = await client.post("/ai", json={"prompt": "hi"}, headers=origin)
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "http://localhost:3000"
        preflight = await client.options(
            "/ai",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


# --------------------------------------------------------------------------------------------
# Isolation between principals
# --------------------------------------------------------------------------------------------


async def test_sessions_belong_to_their_principal(
    open_app: AppFactory, auth_settings: Settings
) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with (
        open_app(model, settings=auth_settings) as app,
        client_for(app, headers=bearer(ALICE_KEY)) as alice,
        client_for(app, headers={"X-API-Key": BOB_KEY}) as bob,
    ):
        first = (await alice.post("/ai", json={"prompt": "alice asks"})).json()["session_id"]
        stream = await alice.post("/ai/stream", json={"prompt": "alice streams"})
        assert stream.status_code == 200 and "event: end" in stream.text
        mine = (await bob.post("/ai", json={"prompt": "bob asks"})).json()["session_id"]

        alice_list = [s["session_id"] for s in (await alice.get("/session/list")).json()]
        bob_list = [s["session_id"] for s in (await bob.get("/session/list")).json()]
        assert first in alice_list and len(alice_list) == 2 and mine not in alice_list
        assert bob_list == [mine]

        for response in (
            await bob.get(f"/session/load/{first}"),
            await bob.delete(f"/session/{first}"),
            await bob.post("/ai", json={"session_id": first, "prompt": "bob writes"}),
            await bob.post("/ai/stream", json={"session_id": first, "prompt": "bob writes"}),
            await bob.post("/agent/invoke", json=run_body("bob writes", first)),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "session_not_found"

        history = (await alice.get(f"/session/load/{first}")).json()["history"]
        assert [item["content"] for item in history] == ["alice asks", "Answer to alice asks"]
        assert (await alice.delete(f"/session/{first}")).status_code == 204
        summary = await app.state.runtime.sessions.get(mine)
        assert summary is not None and summary.owner == "bob"


@pytest.mark.parametrize("endpoint", ["invoke", "stream", "stream_events", "stream_log"])
async def test_agent_threads_of_another_principal_are_404(
    open_app: AppFactory, auth_settings: Settings, endpoint: str
) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with (
        open_app(model, settings=auth_settings) as app,
        client_for(app, headers=bearer(ALICE_KEY)) as alice,
        client_for(app, headers=bearer(BOB_KEY)) as bob,
    ):
        created = await alice.post(f"/agent/{endpoint}", json=run_body("alice here", "t-alice"))
        assert created.status_code == 200, created.text
        summary = await app.state.runtime.sessions.get("t-alice")
        assert summary is not None and summary.owner == "alice"

        stolen = await bob.post(f"/agent/{endpoint}", json=run_body("bob here", "t-alice"))
        assert stolen.status_code == 404, stolen.text
        assert stolen.json()["error"]["code"] == "session_not_found"
        batch = {
            "inputs": [{"messages": [{"type": "human", "content": "bob here"}]}] * 2,
            "config": [
                {"configurable": {"thread_id": "t-bob"}},
                {"configurable": {"thread_id": "t-alice"}},
            ],
        }
        assert (await bob.post("/agent/batch", json=batch)).status_code == 404
        assert (
            await alice.post(f"/agent/{endpoint}", json=run_body("again", "t-alice"))
        ).status_code == 200

        snapshot = await app.state.runtime.graph.aget_state(
            {"configurable": {"thread_id": "t-alice"}}
        )
        humans = [m.text for m in snapshot.values["messages"] if isinstance(m, HumanMessage)]
        assert humans == ["alice here", "again"]
        assert [s["session_id"] for s in (await bob.get("/session/list")).json()] == []


def _ai_body(text: str, thread_id: str) -> dict[str, Any]:
    return {"session_id": thread_id, "prompt": text}


@pytest.mark.parametrize(
    ("path", "make_body"), [("/agent/invoke", run_body), ("/ai", _ai_body)], ids=["agent", "ai"]
)
async def test_racing_principals_on_a_new_thread_id_do_not_share_it(
    open_app: AppFactory,
    auth_settings: Settings,
    path: str,
    make_body: Callable[[str, str], dict[str, Any]],
) -> None:
    """Both pass the ownership check before either has written; the loser must not run on
    the winner's thread (it is checked again under the thread's turn lock)."""
    model = ScriptedChatModel(responder=echo_responder())
    async with (
        open_app(model, settings=auth_settings) as app,
        client_for(app, headers=bearer(ALICE_KEY)) as alice,
        client_for(app, headers=bearer(BOB_KEY)) as bob,
    ):
        locks = turn_locks(app.state)

        async def queued(count: int) -> None:
            for _ in range(2000):  # holders + waiters of the thread's lock
                if locks._entries["race-1"].users >= count:
                    return
                await asyncio.sleep(0.005)
            raise AssertionError("the requests did not queue on the lock")

        async with locks.hold("race-1"):  # both requests pass the first check, then wait
            first = asyncio.create_task(alice.post(path, json=make_body("a1", "race-1")))
            await asyncio.wait_for(queued(2), timeout=10)
            second = asyncio.create_task(bob.post(path, json=make_body("b1", "race-1")))
            await asyncio.wait_for(queued(3), timeout=10)
        assert (await first).status_code == 200
        response = await second
        assert response.status_code == 404, response.text
        assert "a1" not in response.text
        snapshot = await app.state.runtime.graph.aget_state(
            {"configurable": {"thread_id": "race-1"}}
        )
        humans = [m.text for m in snapshot.values["messages"] if isinstance(m, HumanMessage)]
        assert humans == ["a1"]


# --------------------------------------------------------------------------------------------
# The playground: cookie login, only under /agent/
# --------------------------------------------------------------------------------------------


async def _login(client: httpx.AsyncClient, key: str, next_path: str = "") -> httpx.Response:
    form = {"key": key}
    if next_path:
        form["next"] = next_path
    return await client.post("/auth/login", data=form)


async def test_playground_login_sets_a_scoped_cookie_without_the_key(
    open_app: AppFactory, auth_settings: Settings
) -> None:
    model = ScriptedChatModel(responder=echo_responder())
    async with open_app(model, settings=auth_settings) as app, client_for(app) as client:
        page = await client.get("/agent/playground/", headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/auth/login?next=/agent/playground/"
        form = await client.get("/auth/login?next=/agent/playground/")
        assert form.status_code == 200 and 'name="key"' in form.text

        refused = await _login(client, "not-the-key-0123456789")
        assert refused.status_code == 401 and "not valid" in refused.text
        assert COOKIE_NAME not in refused.headers.get("set-cookie", "")

        response = await _login(client, ALICE_KEY)
        assert response.status_code == 303
        assert response.headers["location"] == "/agent/playground/"
        set_cookie = response.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
        assert {"httponly", "path", "max-age", "samesite"} <= attributes
        assert "Path=/agent" in set_cookie and "SameSite=strict" in set_cookie
        cookie = response.cookies[COOKIE_NAME]
        assert ALICE_KEY not in cookie and cookie.endswith(".alice")

        jar = {"Cookie": f"{COOKIE_NAME}={cookie}"}
        assert (await client.get("/agent/playground/", headers=jar)).status_code == 200
        assert (await client.get("/agent/input_schema", headers=jar)).status_code == 200
        same_origin = {**jar, "Origin": "http://testserver"}
        run = await client.post(
            "/agent/invoke", json=run_body("from the playground", "pg-1"), headers=same_origin
        )
        assert run.status_code == 200, run.text
        summary = await app.state.runtime.sessions.get("pg-1")
        assert summary is not None and summary.owner == "alice"

        # the cookie works under /agent/ only
        assert_unauthorized(await client.get("/session/list", headers=jar))
        assert_unauthorized(await client.post("/ai", json={"prompt": "hi"}, headers=jar))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/x"},
    ],
)
async def test_cross_site_cookie_requests_are_refused(
    open_app: AppFactory, auth_settings: Settings, headers: dict[str, str]
) -> None:
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        cookie = (await _login(client, BOB_KEY)).cookies[COOKIE_NAME]
        response = await client.post(
            "/agent/invoke",
            json=run_body("csrf", "csrf-1"),
            headers={"Cookie": f"{COOKIE_NAME}={cookie}", **headers},
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert await app.state.runtime.sessions.get("csrf-1") is None


async def test_forged_or_expired_cookies_are_refused(
    open_app: AppFactory, auth_settings: Settings
) -> None:
    keys = ApiKeys(auth_settings.api_principals)
    good = keys.issue_cookie("alice")
    expires, mac, _ = good.split(".", 2)
    forged = [
        f"{expires}.{mac}.bob",  # another principal's name on alice's mac
        f"{int(expires) + 10}.{mac}.alice",  # a later expiry
        keys.issue_cookie("alice", now=0),  # long expired
        f"{int(expires) + 10**6}.{mac}.alice",  # beyond the lifetime
        ALICE_KEY,  # the key itself is not a cookie
        "garbage",
    ]
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        assert (
            await client.get("/agent/input_schema", headers={"Cookie": f"{COOKIE_NAME}={good}"})
        ).status_code == 200
        for value in forged:
            response = await client.get(
                "/agent/input_schema", headers={"Cookie": f"{COOKIE_NAME}={value}"}
            )
            assert_unauthorized(response)
    other = ApiKeys(parse_api_keys("alice:a-rotated-key-0123456789"))
    assert other.principal_for_cookie(good) is None  # a new key invalidates old cookies


@pytest.mark.parametrize(
    "next_path", ["https://evil.example/", "//evil.example/", "/\\evil.example", "/session/list"]
)
async def test_login_redirects_only_into_the_agent(
    open_app: AppFactory, auth_settings: Settings, next_path: str
) -> None:
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        response = await _login(client, ALICE_KEY, next_path)
        assert response.headers["location"] == "/agent/playground/"
        form = await client.get("/auth/login", params={"next": '"><script>x</script>'})
        assert "<script>x" not in form.text


async def test_logout_clears_the_cookie(open_app: AppFactory, auth_settings: Settings) -> None:
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        response = await client.post("/auth/logout")
        assert response.status_code == 303
        assert f'{COOKIE_NAME}=""' in response.headers["set-cookie"]
        assert "Max-Age=0" in response.headers["set-cookie"]


# --------------------------------------------------------------------------------------------
# Logging: refusals are logged, keys never
# --------------------------------------------------------------------------------------------


async def test_keys_never_reach_the_log(
    open_app: AppFactory, auth_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_app(settings=auth_settings) as app, client_for(app) as client:
        await client.get("/session/list", headers=bearer(ALICE_KEY))
        await client.get("/session/list", headers=bearer(ALICE_KEY + "-almost"))
        await client.get("/session/list", headers={"X-API-Key": BOB_KEY[:-1]})
        await _login(client, ALICE_KEY)
        await _login(client, BOB_KEY + "-wrong")
    text = "\n".join(caplog.text.splitlines())
    assert "unauthenticated request refused" in text
    for secret in (ALICE_KEY, BOB_KEY, BOB_KEY[:-1], "0123456789"):
        assert secret not in text


# --------------------------------------------------------------------------------------------
# Open local mode on the network
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "keys", "warned"),
    [
        ("0.0.0.0", None, True),
        ("192.168.1.10", None, True),
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        (None, None, False),
        ("0.0.0.0", API_KEYS, False),
    ],
)
def test_startup_warning_in_open_mode_on_the_network(
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    host: str | None,
    keys: str | None,
    warned: bool,
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        bind_host=host,
        api_keys=SecretStr(keys) if keys else None,
    )
    with caplog.at_level(logging.INFO, logger="app.auth"):
        warn_if_open_on_network(settings)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) is warned
    if warned:
        assert "COSMIC_WORKS_API_KEYS" in warnings[0].getMessage()
    assert ALICE_KEY not in caplog.text


async def test_first_request_over_the_network_warns_once_in_open_mode(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(_env_file=None, data_dir=tmp_path))
    with caplog.at_level(logging.WARNING, logger="app.auth"):
        async with client_for(app, base_url="http://127.0.0.1:8000") as local:
            await local.get("/healthz")
        assert not caplog.records
        async with client_for(app, base_url="http://10.1.2.3:8000") as remote:
            await remote.get("/healthz")
            await remote.get("/healthz")
    assert len(caplog.records) == 1
    assert "10.1.2.3" in caplog.records[0].getMessage()


def test_serve_passes_its_bind_address_to_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import os

    from app import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COSMIC_WORKS_BIND_HOST", "unset")  # restored after the test
    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: seen.update(k))
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == cli.EXIT_OK
    assert seen["host"] == "0.0.0.0"
    assert os.environ["COSMIC_WORKS_BIND_HOST"] == "0.0.0.0"
    assert Settings(_env_file=None).bind_host == "0.0.0.0"


def test_settings_json_never_shows_keys(auth_settings: Settings) -> None:
    dumped = json.dumps(auth_settings.model_dump(mode="json"), default=str)
    assert ALICE_KEY not in dumped and BOB_KEY not in dumped
    assert ALICE_KEY not in repr(auth_settings)
