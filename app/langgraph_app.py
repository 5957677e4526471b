"""Our FastAPI app as the LangGraph server's custom app: `langgraph.json` → `http.app`.

`langgraph dev` (and a LangGraph server image) imports this module, takes `app`, and merges it
with its own routes (`/threads`, `/runs`, `/assistants`, `/store`, Studio's endpoints): ours
(`/`, `/healthz`, `/ai`, `/ai/stream`, `/session/*`, `/agent/*`, `/v1/*`) are matched first,
then the server's. What the merge requires, and what `build_langgraph_app` adapts:

* **A lifespan, no startup hooks.** The server combines its lifespan with ours and refuses an
  app with `on_startup`/`on_shutdown` hooks ("Cannot merge lifespans with on_startup or
  on_shutdown"). `create_app` registers none (LangServe's routes live on an `APIRouter`,
  which registers no banner hook); `check_mountable` fails fast, with a clear message, if that
  ever regresses. Our lifespan opens our runtime: catalog store, model and *our own*
  checkpointer (the one of settings), the memory of our routes. The LangGraph threads
  (`/threads`, Studio) use the server's own persistence and the graph of `graphs/server.py`;
  the two do not share conversations.
* **Our middleware on our routes only.** The server would otherwise run the custom app's
  middleware around *every* route, its own included: our API-key check would lock Studio out
  of `/threads` and `/assistants`, our body-size cap would apply to its runs, and our CORS
  policy would answer Studio's preflights (from smith.langchain.com) with "Disallowed CORS
  origin". `OurRoutesOnly` runs our middleware stack for requests that match one of our
  routes and passes the others (and every CORS preflight) straight on to the server's
  middleware and router, whose own settings (`auth` and `http.cors` in `langgraph.json`)
  govern them. It sits outside the server's CORS middleware, so a 401 from our key check
  carries no CORS headers here (a browser sees a CORS failure instead of the 401).
* **One CORS policy.** CORS is the server's job here (default: any origin, which Studio
  needs; `http.cors` to restrict it): ours is dropped, for our routes too, because the
  server's CORS middleware wraps everything and two policies would disagree.
* **Error shapes stay per route family.** Both apps register an `HTTPException` handler and
  the server keeps the custom app's: ours is scoped so that our routes answer
  `{"error": {"code", "message"}}` and the server's keep `{"detail": ...}`, which its SDK and
  Studio expect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.main import create_app
from core.settings import Settings

OUR_ROUTE = "cosmic_works.route"
"""Scope key set by `OurRoutesOnly` on requests routed to our app's routes."""

_Handler = Callable[[Request, Exception], Awaitable[Response]]


def check_mountable(app: FastAPI) -> None:
    """Raise if the LangGraph server could not merge `app`'s lifespan with its own."""
    hooks = [*app.router.on_startup, *app.router.on_shutdown]
    if hooks:
        names = ", ".join(getattr(hook, "__qualname__", repr(hook)) for hook in hooks)
        raise RuntimeError(
            f"the app registers startup/shutdown hooks ({names}); the LangGraph server only "
            "merges a lifespan: move them into create_app's lifespan"
        )


class OurRoutesOnly:
    """Run `middleware` (outermost first) only for requests that one of `routes` matches.

    Other requests — the LangGraph server's routes, unknown paths — go to the next app
    untouched. A path match with another method (a 405) counts as ours.
    """

    def __init__(
        self, app: ASGIApp, *, routes: Sequence[BaseRoute], middleware: Sequence[Middleware]
    ) -> None:
        self.app = app
        self.routes = list(routes)
        wrapped = app
        for cls, args, kwargs in reversed(middleware):
            wrapped = cls(wrapped, *args, **kwargs)
        self.wrapped = wrapped

    def is_ours(self, scope: Scope) -> bool:
        if scope["type"] not in ("http", "websocket") or _is_preflight(scope):
            return False  # CORS preflights are the server's CORS middleware's to answer
        return any(route.matches(scope)[0] is not Match.NONE for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.is_ours(scope):
            scope[OUR_ROUTE] = True
            await self.wrapped(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_preflight(scope: Scope) -> bool:
    return scope.get("method") == "OPTIONS" and any(
        name == b"access-control-request-method" for name, _ in scope.get("headers", ())
    )


async def _server_http_error(request: Request, exc: Exception) -> Response:
    """The LangGraph server's rendering of an `HTTPException`: `{"detail": ...}`."""
    assert isinstance(exc, StarletteHTTPException)
    try:
        from langgraph_api.errors import http_exception_handler
    except ImportError:  # not inside a LangGraph server: render the same shape
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else "unknown error"
        return JSONResponse(
            {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )
    return await http_exception_handler(request, exc)


def _scope_http_error_handler(app: FastAPI) -> None:
    ours = cast(_Handler, app.exception_handlers[StarletteHTTPException])

    async def http_error(request: Request, exc: Exception) -> Response:
        if request.scope.get(OUR_ROUTE):
            return await ours(request, exc)
        return await _server_http_error(request, exc)

    app.exception_handlers[StarletteHTTPException] = http_error


def build_langgraph_app(settings: Settings | None = None) -> FastAPI:
    """`create_app` adapted to run inside the LangGraph server (see the module docstring)."""
    app = create_app(settings)
    check_mountable(app)
    ours = [m for m in app.user_middleware if m.cls is not CORSMiddleware]
    app.user_middleware = [
        Middleware(OurRoutesOnly, routes=list(app.router.routes), middleware=ours)
    ]
    _scope_http_error_handler(app)
    return app


app = build_langgraph_app()
