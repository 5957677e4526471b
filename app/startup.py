"""A startup that fails for a known reason says so in one log line, not in a stack trace.

Starlette reports a failed lifespan to the server with the full traceback as the message, and
uvicorn logs that message: a misconfigured deployment (no endpoint, no connection string,
MongoDB unreachable) showed a 9 KB trace with its reason on the last line. For the errors our
own factories raise on purpose, whose text already names the setting or the server, the
message becomes `startup failed: <reason>`; anything unexpected keeps its traceback.
"""

from __future__ import annotations

from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STARTUP_FAILURE_ATTR = "startup_failure"


def operator_error_types() -> tuple[type[Exception], ...]:
    """The errors our own factories raise on purpose, with a message written for the operator
    (it names the setting, the file or the server): shown as they are, without a traceback,
    at startup and by the CLI."""
    from catalog.embeddings.local import EmbeddingsError
    from catalog.loader import SourceError
    from catalog.store import StoreError
    from graphs.chat_models import ModelConfigError
    from graphs.checkpointer import CheckpointerError
    from graphs.migrate import MigrationError
    from graphs.sessions import SessionIndexError

    return (
        StoreError,
        CheckpointerError,
        SessionIndexError,
        EmbeddingsError,
        ModelConfigError,
        MigrationError,
        SourceError,
    )


def startup_failure_reason(exc: BaseException) -> str | None:
    """The one-line reason for a known startup error, or None for an unexpected one."""
    if not isinstance(exc, operator_error_types()):
        return None
    return f"startup failed: {exc}"


def record_startup_failure(state: State, exc: BaseException) -> None:
    """Remember why the lifespan failed, for `StartupFailureReporter` (known errors only)."""
    reason = startup_failure_reason(exc)
    if reason is not None:
        setattr(state, STARTUP_FAILURE_ATTR, reason)


class StartupFailureReporter:
    """Replaces the traceback of `lifespan.startup.failed` by the recorded one-line reason."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def reporting_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                reason = getattr(self.state, STARTUP_FAILURE_ATTR, None)
                if reason:
                    message = {**message, "message": reason}
            await send(message)

        await self.app(scope, receive, reporting_send)
