"""One error shape for every failure: `{"error": {"code", "message"}}` with the right status.

Dependencies that fail are named in the code (`store_unavailable`, `model_timeout`, ...) so that
operators see what broke; internals (stack traces, connection strings) never reach the client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


@dataclass
class ApiError(Exception):
    """An error we raise on purpose, with its HTTP status and stable code."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


def classify_exception(exc: BaseException) -> ApiError:
    """Map any exception raised while serving a request to the error the client sees."""
    if isinstance(exc, ApiError):
        return exc
    from catalog.store import InvalidFilterError, StoreError
    from graphs.checkpointer import CheckpointerError
    from graphs.sessions import SessionIndexError

    if isinstance(exc, StoreError):
        return ApiError(503, "store_unavailable", f"The catalog store is unavailable: {exc}")
    if isinstance(exc, CheckpointerError | SessionIndexError):
        return ApiError(
            503, "checkpointer_unavailable", f"The conversation store is unavailable: {exc}"
        )
    if isinstance(exc, InvalidFilterError):
        return ApiError(422, "invalid_request", str(exc))
    try:
        from graphs.chat_models import classify_model_error
    except ImportError:  # pragma: no cover - the factory ships with the agent
        classify_model_error = None  # type: ignore[assignment]
    if classify_model_error is not None:
        mapped = classify_model_error(exc)
        if mapped is not None:
            status, code, message = mapped
            headers = {"Retry-After": "10"} if status == 503 else {}
            return ApiError(status, code, message, headers=headers)
    from langgraph.errors import GraphRecursionError

    if isinstance(exc, GraphRecursionError):
        return ApiError(500, "agent_step_limit", "The agent did not finish within its step limit.")
    return ApiError(500, "internal_error", "An unexpected error occurred; see the server log.")


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    field_name = ".".join(location) or None
    message = str(first.get("msg", "invalid value"))
    return (f"{field_name}: {message}" if field_name else message), field_name


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so that every error, ours or the framework's, has the JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.extra),
            status_code=exc.status,
            headers=exc.headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, field_name = _validation_message(exc)
        extra = {"field": field_name} if field_name else {}
        return JSONResponse(error_body("invalid_request", message, **extra), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            error_body(code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    app.add_middleware(UnhandledErrorMiddleware)


def error_response(exc: BaseException, method: str = "", path: str = "") -> JSONResponse:
    """The JSON response for an unexpected exception; logs 5xx without leaking to the client."""
    error = classify_exception(exc)
    if error.status >= 500:
        logger.error(
            "request failed: %s %s -> %s %s: %s",
            method,
            path,
            error.status,
            error.code,
            type(exc).__name__,
            exc_info=error.code == "internal_error",
        )
    return JSONResponse(
        error_body(error.code, error.message, **error.extra),
        status_code=error.status,
        headers=error.headers or None,
    )


class UnhandledErrorMiddleware:
    """Turn exceptions that escape a route into our JSON error, before Starlette's 500 page.

    A pure ASGI middleware (not BaseHTTPMiddleware) so streaming responses pass untouched; once a
    response has started, the exception is re-raised for the server to close the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = error_response(exc, scope.get("method", ""), scope.get("path", ""))
            await response(scope, receive, send)
