"""API-key authentication and the principal that owns sessions.

`COSMIC_WORKS_API_KEYS=name:key,name2:key2` (parsed and checked at startup by
`core.settings.parse_api_keys`) turns authentication on. Then:

* **Every route except the public ones** needs `Authorization: Bearer <key>` or
  `X-API-Key: <key>`; otherwise 401 `{"error": {"code": "unauthorized", ...}}` with
  `WWW-Authenticate: Bearer`. Public: the probes `/`, `/healthz`, `/readyz`, the API docs
  (`/docs`, `/redoc`, `/openapi.json`: they describe the API and hold no data), the chat
  page's static files (`/chat`, which asks for the key and sends it as a header) and the
  playground login page `/auth/login`. Everything else — `/ai`, `/session/*`, all of
  `/agent/*` including the playground and its assets — is behind the key. It is a pure ASGI
  middleware, so LangServe's routes (added by `langserve.add_routes`) are covered like ours.
* **Comparison** hashes the presented key and compares the SHA-256 digest with every
  configured key's digest using `hmac.compare_digest` (fixed length, no early exit on the
  first match), so the time taken does not depend on which key matched or how much of a key
  was right.
* **The principal** (the entry's name) is stored in `request.state.principal`: `/ai` and the
  session routes file sessions under it and show only the caller's (`app.deps.get_owner`),
  and LangServe's config modifier sets `configurable.owner` from it and answers 404 for a
  thread of another principal.
* **The playground** is a browser page: it cannot add a header to its own API calls. A small
  login page (`GET /auth/login`, a form that POSTs the key in the body, never in the URL)
  sets a cookie that is accepted **only under `/agent/`**. The cookie holds no key: it is
  `expiry.mac.name` with `mac = HMAC-SHA256(key, name + expiry)`, valid 12 hours and
  invalidated by changing the key. It is `HttpOnly`, `SameSite=Strict`, `Path=/agent`,
  `Secure` over HTTPS, and a cookie-authenticated request that changes state (POST...) must
  come from the same origin (`Origin`, else `Referer`, matching `Host`) or gets 403: a
  form on another site cannot drive `/agent/invoke` with the victim's cookie. A browser
  opening the playground without the cookie is redirected to the login page; API clients
  get 401 JSON.
* **Nothing logs or returns a key**: failures are logged with the path and client address,
  never with the presented value.

Without keys the service runs in **open local mode** (principal `""`). It logs a WARNING at
startup when `COSMIC_WORKS_BIND_HOST` (set by `cosmic-works serve`) is not a loopback
address, and once, at the first request, when a request arrives on a non-loopback local
address (this covers servers started another way, e.g. `uvicorn --host 0.0.0.0 app:app`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import error_body
from core.settings import Settings

logger = logging.getLogger(__name__)

AGENT_PREFIX = "/agent/"
LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"
PROBE_PATHS = frozenset({"/", "/healthz", "/readyz"})
COOKIE_NAME = "cosmic_works_playground"
COOKIE_TTL_S = 12 * 3600
DEFAULT_NEXT = "/agent/playground/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_COOKIE_CONTEXT = b"cosmic-works-playground\x00"
_MAX_LOGIN_BODY = 4096


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class ApiKeys:
    """The configured principals; checks keys in constant time and signs playground cookies."""

    def __init__(self, principals: Mapping[str, SecretStr]) -> None:
        self._keys = {name: key.get_secret_value().encode() for name, key in principals.items()}
        self._digests = [(name, _digest(key.decode())) for name, key in self._keys.items()]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def principal_for(self, presented: str) -> str | None:
        """The name whose key is `presented`, comparing with every key (no early exit)."""
        candidate = _digest(presented)
        found: str | None = None
        for name, expected in self._digests:
            if hmac.compare_digest(candidate, expected) and found is None:
                found = name
        return found

    def _mac(self, name: str, expires: int) -> str | None:
        key = self._keys.get(name)
        if key is None:
            return None
        message = _COOKIE_CONTEXT + f"{name}\x00{expires}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def issue_cookie(self, name: str, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + COOKIE_TTL_S
        mac = self._mac(name, expires)
        assert mac is not None, "cookie for an unknown principal"
        return f"{expires}.{mac}.{name}"

    def principal_for_cookie(self, value: str, now: float | None = None) -> str | None:
        expires_text, _, rest = value.partition(".")
        mac, _, name = rest.partition(".")
        if not expires_text.isdigit() or not mac or not name:
            return None
        expires = int(expires_text)
        current = now if now is not None else time.time()
        if not current < expires <= current + COOKIE_TTL_S + 60:
            return None
        expected = self._mac(name, expires)
        if expected is None or not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        return name


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def route_path(scope: Scope) -> str:
    """The path the router matches (without the ASGI `root_path`), as Starlette computes it."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (path == root or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path


def is_loopback(host: str | None) -> bool:
    """True for `localhost` and loopback IPs; False for wildcard, LAN and unknown hosts."""
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def warn_if_open_on_network(settings: Settings) -> None:
    """At startup: warn when open local mode listens on a non-loopback address."""
    if settings.api_keys is not None:
        logger.info("API key authentication on: %d principal(s)", len(settings.api_principals))
        return
    host = settings.bind_host
    if host and not is_loopback(host):
        logger.warning(
            "open local mode on %s: COSMIC_WORKS_API_KEYS is not set, so anyone who can reach "
            "this address can use the agent and read every conversation; set "
            "COSMIC_WORKS_API_KEYS=name:key,... or bind to 127.0.0.1",
            host,
        )


def _credential(headers: Headers) -> tuple[bool, str | None]:
    """(whether the request presented a credential header, the key it carries)."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return True, token.strip()
    api_key = headers.get("x-api-key")
    if api_key is not None:
        return True, api_key.strip()
    return authorization is not None, None


def _cookie(headers: Headers, name: str) -> str | None:
    for header in headers.getlist("cookie"):
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
    return None


def _same_origin(headers: Headers) -> bool:
    """The request comes from a page of this origin (`Origin`, else `Referer`, vs `Host`)."""
    host = (headers.get("host") or "").lower()
    source = headers.get("origin") or headers.get("referer")
    if not host or not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == host


def _is_playground_page(path: str, method: str, headers: Headers) -> bool:
    if method != "GET" or "text/html" not in headers.get("accept", ""):
        return False
    return path.startswith(AGENT_PREFIX) and "/playground" in path


def _safe_next(value: str | None) -> str:
    """Where to go after logging in: a path under /agent/ of this app, nothing else."""
    if (
        value
        and value.startswith(AGENT_PREFIX)
        and "//" not in value
        and "\\" not in value
        and value.isprintable()
    ):
        return value
    return DEFAULT_NEXT


def _unauthorized(presented: bool) -> JSONResponse:
    challenge = 'Bearer realm="cosmic-works"'
    if presented:
        challenge += ', error="invalid_token"'
    return JSONResponse(
        error_body(
            "unauthorized",
            "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
        ),
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


def _cross_site() -> JSONResponse:
    return JSONResponse(
        error_body(
            "forbidden",
            "A cookie-authenticated request that changes state must come from this origin.",
        ),
        status_code=403,
    )


# --------------------------------------------------------------------------------------------
# Middleware
# --------------------------------------------------------------------------------------------


class ApiKeyAuthMiddleware:
    """Pure ASGI: checks the key (or the playground cookie) and sets `state.principal`."""

    def __init__(
        self, app: ASGIApp, *, keys: ApiKeys, public_paths: Iterable[str] = PROBE_PATHS
    ) -> None:
        self.app = app
        self.keys = keys
        self.public_paths = frozenset(public_paths)
        self._warned_network = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self.keys:
            self._warn_if_reached_over_network(scope)
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if scope["type"] == "http" and path in self.public_paths:
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        method = str(scope.get("method", "GET")).upper()
        presented, key = _credential(headers)
        principal = self.keys.principal_for(key) if key is not None else None
        if principal is None and not presented and path.startswith(AGENT_PREFIX):
            cookie = _cookie(headers, COOKIE_NAME)
            if cookie is not None:
                principal = self.keys.principal_for_cookie(cookie)
                if (
                    principal is not None
                    and method not in SAFE_METHODS
                    and not _same_origin(headers)
                ):
                    logger.warning("refused a cross-site cookie request: %s %s", method, path)
                    await _cross_site()(scope, receive, send)
                    return

        if principal is None:
            client = scope.get("client") or ("?", 0)
            logger.info(
                "unauthenticated request refused: %s %s from %s (%s)",
                method,
                path,
                client[0],
                "invalid credential" if presented else "no credential",
            )
            if scope["type"] == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})
                return
            if _is_playground_page(path, method, headers):
                root = scope.get("root_path", "")
                location = f"{root}{LOGIN_PATH}?next={quote(path, safe='/')}"
                await RedirectResponse(location, status_code=303)(scope, receive, send)
                return
            await _unauthorized(presented)(scope, receive, send)
            return

        state: dict[str, Any] = scope.setdefault("state", {})
        state["principal"] = principal
        await self.app(scope, receive, send)

    def _warn_if_reached_over_network(self, scope: Scope) -> None:
        if self._warned_network or scope["type"] != "http":
            return
        server = scope.get("server")
        host = server[0] if server else None
        if not isinstance(host, str) or not _is_ip(host) or is_loopback(host):
            return  # unknown, a unix socket, a test client's host name, or loopback
        self._warned_network = True
        logger.warning(
            "open local mode: a request arrived on %s, a non-loopback address, and "
            "COSMIC_WORKS_API_KEYS is not set; anyone who can reach it can use the agent and "
            "read every conversation",
            host,
        )


# --------------------------------------------------------------------------------------------
# Playground login
# --------------------------------------------------------------------------------------------

_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cosmic Works agent: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}
.error{{color:#b00020}}</style></head>
<body><h1>Sign in to the playground</h1>
<p>Paste your API key. The browser keeps a 12-hour cookie for <code>/agent/</code> only;
the key itself is not stored.</p>
{error}
<form method="post" action="{action}">
<input type="password" name="key" autocomplete="current-password" required autofocus
 aria-label="API key">
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form></body></html>
"""


def _login_page(root: str, next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
    body = _LOGIN_PAGE.format(
        action=html.escape(f"{root}{LOGIN_PATH}"),
        next=html.escape(next_path),
        error=f'<p class="error">{html.escape(error)}</p>' if error else "",
    )
    return HTMLResponse(
        body, status_code=status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    )


def build_login_router(keys: ApiKeys) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(LOGIN_PATH)
    async def login_form(request: Request) -> Response:
        next_path = _safe_next(request.query_params.get("next"))
        root = request.scope.get("root_path", "")
        if not keys:
            return RedirectResponse(f"{root}{next_path}", status_code=303)
        return _login_page(root, next_path)

    @router.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        body = await request.body()
        fields = parse_qs(body[:_MAX_LOGIN_BODY].decode("utf-8", "replace"), max_num_fields=4)
        next_values = fields.get("next")
        next_path = _safe_next(next_values[0] if next_values else None)
        if not keys:
            return RedirectResponse(f"{root}{next_path}", status_code=303)
        if request.headers.get("origin") and not _same_origin(request.headers):
            return _login_page(root, next_path, "Sign in from this site's own page.", 403)
        principal = keys.principal_for((fields.get("key") or [""])[0].strip())
        if principal is None:
            client = request.client.host if request.client else "?"
            logger.info("playground login refused from %s", client)
            return _login_page(root, next_path, "That key is not valid.", 401)
        response = RedirectResponse(f"{root}{next_path}", status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            keys.issue_cookie(principal),
            max_age=COOKIE_TTL_S,
            path=f"{root}{AGENT_PREFIX.rstrip('/')}",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.headers["Cache-Control"] = "no-store"
        logger.info("playground login: principal %s", principal)
        return response

    @router.api_route(LOGOUT_PATH, methods=["GET", "POST"])
    async def logout(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}{LOGIN_PATH}", status_code=303)
        response.delete_cookie(
            COOKIE_NAME,
            path=f"{root}{AGENT_PREFIX.rstrip('/')}",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    return router


# --------------------------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------------------------


def public_paths(app: FastAPI) -> frozenset[str]:
    """The probes, the API docs, the login page and the chat page's static files.

    The chat page (`/chat`) holds no data: it asks for the key and sends it as a header on
    its own API calls, so the page and its assets load without one.
    """
    docs = {app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url}
    try:
        from app.routes.chat_page import PUBLIC_PATHS as chat_page_paths
    except ImportError:  # pragma: no cover - the chat page ships with the app
        chat_page_paths = frozenset()
    return frozenset(
        {*PROBE_PATHS, LOGIN_PATH, LOGOUT_PATH, *chat_page_paths, *(p for p in docs if p)}
    )


def _document_security(app: FastAPI, public: frozenset[str]) -> None:
    """Declare the key in the OpenAPI document (the docs' Authorize button, API clients)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["bearerKey"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from COSMIC_WORKS_API_KEYS.",
        }
        schemes["headerKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        schema["security"] = [{"bearerKey": []}, {"headerKey": []}]
        for path, operations in schema.get("paths", {}).items():
            if path in public:
                for operation in operations.values():
                    if isinstance(operation, dict):
                        operation["security"] = []
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_auth(app: FastAPI, settings: Settings) -> ApiKeys:
    """Add the middleware (inside CORS, so 401s carry CORS headers) and the login routes."""
    keys = ApiKeys(settings.api_principals)
    public = public_paths(app)
    app.add_middleware(ApiKeyAuthMiddleware, keys=keys, public_paths=public)
    app.include_router(build_login_router(keys))
    if keys:
        _document_security(app, public)
    return keys
