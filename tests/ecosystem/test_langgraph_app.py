"""`app.langgraph_app`: our app adapted to the LangGraph server's merge, checked in-process.

The merge itself is exercised by `test_langgraph_dev.py` against the real CLI; here the
adaptations are checked one by one, on an app merged the way `langgraph_api.server` merges it
(the server's routes after ours, its CORS middleware after the custom app's middleware), and
the app is run under the blocking-call detector `langgraph dev` installs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from langchain_core.messages import HumanMessage
from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.langgraph_app import OurRoutesOnly, build_langgraph_app, check_mountable
from app.main import create_app
from core.settings import Settings

pytestmark = pytest.mark.timeout(900)

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"
KEY = "alice-key-0123456789"


def test_the_app_has_no_startup_hooks(settings: Settings) -> None:
    app = create_app(settings)
    check_mountable(app)  # what the server's `validate_router_lifespan_hooks` requires
    assert not app.router.on_startup and not app.router.on_shutdown

    app.router.on_startup.append(lambda: None)
    with pytest.raises(RuntimeError, match="startup/shutdown hooks"):
        check_mountable(app)


def test_our_middleware_is_scoped_and_our_cors_dropped(settings: Settings) -> None:
    app = build_langgraph_app(settings)
    assert [m.cls for m in app.user_middleware] == [OurRoutesOnly]
    scoped = cast(list[Middleware], app.user_middleware[0].kwargs["middleware"])
    assert CORSMiddleware not in [m.cls for m in scoped]
    assert scoped, "the key check, limits and error middleware still apply to our routes"


async def _threads(request: Request) -> JSONResponse:
    """Stands for a LangGraph server route: raises its HTTPException for unknown threads."""
    if request.path_params["thread_id"] != "known":
        raise HTTPException(404, "Thread not found")
    return JSONResponse({"thread_id": "known"})


def merged_like_the_server(app: FastAPI) -> FastAPI:
    """What `langgraph_api.server` does to the custom app: its routes after ours, its global
    middleware (CORS first) after the custom app's middleware."""
    app.router.routes = [*app.router.routes, Route("/threads/{thread_id}", _threads)]
    app.user_middleware = [
        *app.user_middleware,
        Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]),
    ]
    return app


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_merged_app_keeps_each_side_to_its_rules(settings: Settings) -> None:
    keyed = settings.model_copy(update={"api_keys": SecretStr(f"alice:{KEY}")})
    app = merged_like_the_server(build_langgraph_app(keyed))
    async with serving(app) as client:
        # The server's routes: no key asked (its own `auth` config governs them), its shape.
        assert (await client.get("/threads/known")).json() == {"thread_id": "known"}
        missing = await client.get("/threads/other")
        assert missing.status_code == 404 and missing.json() == {"detail": "Thread not found"}

        # Our routes: the service's key rule and our error shape.
        assert (await client.post("/ai", json={"prompt": "hi"})).status_code == 401
        headers = {"Authorization": f"Bearer {KEY}"}
        bad = await client.post("/ai", json={}, headers=headers)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        gone = await client.get("/session/load/nope", headers=headers)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "session_not_found"
        ok = await client.post("/ai", json={"prompt": ACCEPTANCE}, headers=headers)
        assert ok.status_code == 200 and "$1431.50" in ok.json()["message"]
        models = await client.get("/v1/models", headers=headers)
        assert models.status_code == 200

        # A CORS preflight (no credentials, by definition) reaches the server's CORS policy.
        preflight = await client.options(
            "/ai",
            headers={
                "Origin": "https://smith.langchain.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "*"


async def test_no_blocking_call_on_the_event_loop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`langgraph dev` fails any synchronous blocking call made on its event loop (through
    `blockbuster`, configured by the in-memory runtime): the app's startup, its routes and
    the graph factory must not make one."""
    queue = pytest.importorskip("langgraph_runtime_inmem.queue")
    enable = getattr(queue, "_enable_blockbuster", None)
    if enable is None:
        pytest.skip("this langgraph-runtime-inmem has no blocking-call detector")
    from graphs.server import make_graph

    monkeypatch.setenv("COSMIC_WORKS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COSMIC_WORKS_MODEL", "offline")
    monkeypatch.chdir(settings.data_dir)  # no .env of the checkout for make_graph's Settings()
    app = create_app(settings)
    detector = enable()
    try:
        async with serving(app) as client:
            ai = await client.post("/ai", json={"prompt": ACCEPTANCE})
            assert ai.status_code == 200, ai.text
            search = await client.post("/ai", json={"prompt": "What is HL Road Frame?"})
            assert search.status_code == 200, search.text
            stream = await client.post(
                "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": ACCEPTANCE}], "stream": True},
            )
            assert stream.status_code == 200 and "[DONE]" in stream.text
            assert '"error"' not in stream.text, stream.text
            events = await client.post("/ai/stream", json={"prompt": ACCEPTANCE})
            assert "event: end" in events.text, events.text
            session_id = ai.json()["session_id"]
            assert (await client.get(f"/session/load/{session_id}")).status_code == 200
            invoke: dict[str, Any] = {
                "input": {"messages": [{"type": "human", "content": ACCEPTANCE}]},
                "config": {"configurable": {"thread_id": "t-1"}},
            }
            agent = await client.post("/agent/invoke", content=json.dumps(invoke))
            assert agent.status_code == 200, agent.text
            assert (await client.get("/readyz")).status_code == 200
        async with make_graph({}) as graph:  # the factory named in langgraph.json
            state = await graph.ainvoke({"messages": [HumanMessage(ACCEPTANCE)]})
        assert "$1431.50" in state["messages"][-1].text
    finally:
        detector.deactivate()
