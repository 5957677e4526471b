"""Request limits enforced before a route sees the request.

* **Body size** (`COSMIC_WORKS_MAX_BODY_BYTES`, default 64 KiB) is checked on the raw ASGI
  stream, before anything parses it: a `Content-Length` above the limit is answered 413 at
  once, without reading the body; a body sent without a length (chunked) or longer than it
  declared is counted as it arrives and refused as soon as it crosses the limit. Either way
  the client gets `{"error": {"code": "payload_too_large", ...}}`.
* **Prompt length** (`COSMIC_WORKS_MAX_PROMPT_CHARS`, default 4,000): the middleware makes the
  app's limit visible to `AiRequest`'s validator for the duration of the request (a context
  variable, so that two apps with different settings in one process do not share a global);
  `/agent` reads the same setting in its input guard. Both answer 422 naming the field.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_body
from app.schemas import prompt_limit


class BodyTooLarge(HTTPException):
    """Raised by the counting `receive` when a body crosses the limit.

    An `HTTPException`, so FastAPI re-raises it while reading a body (instead of turning it
    into a 400) and `app.errors` renders it as `payload_too_large`.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


def too_large_response(limit: int) -> JSONResponse:
    return JSONResponse(
        error_body("payload_too_large", f"The request body is larger than {limit} bytes."),
        status_code=413,
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length before we run
    return None


class RequestLimits:
    """Pure ASGI middleware: body-size cap on the raw stream, prompt limit for the request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_prompt_chars: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_prompt_chars = max_prompt_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await too_large_response(limit)(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        token = prompt_limit.set(self.max_prompt_chars)
        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large_response(limit)(scope, receive, send)
        finally:
            prompt_limit.reset(token)
