"""Structured logs: one JSON object per line (or a readable line on a terminal), each carrying
the ids of the request, session and agent run that produced it.

* **Context.** `RequestLogContext` is a small mutable record bound to a contextvar for the
  duration of one HTTP request (`app.observability` binds it). Tasks started during the
  request (the streamed turn's graph task, LangChain's callbacks) copy the contextvar, and so
  share the *same object*: what they learn later (the session id, the run id, the tools that
  ran, the model's latency) is visible to the access log written when the request ends.
  `run_metadata()` gives the request id for a graph run's `metadata`.
* **Formatters.** `JsonFormatter` writes `time`, `level`, `logger`, `message`, the context ids
  and the record's `fields` (pass them as `extra=log_fields(route=..., status=...)`);
  `TextFormatter` writes the same on one readable line. Both redact secrets: the values given
  to `configure_logging` (keys, connection-string passwords), `Bearer` tokens and passwords
  in `scheme://user:password@host` URLs, wherever they appear (messages, fields, tracebacks).
* **`configure_logging`** installs one handler on the root logger, replacing the one it
  installed before and leaving any other (pytest's, an operator's) alone; uvicorn's loggers
  are routed through it and uvicorn's own access log is turned off (the access middleware
  writes a richer line). Format `auto` means text when stderr is a terminal, JSON otherwise.

Prompts, answers and tool arguments are user data: they are logged only when
`COSMIC_WORKS_LOG_PROMPTS=true` (`app.observability` decides; nothing here logs them).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

import orjson

FIELDS_ATTR = "fields"
"""The `LogRecord` attribute holding structured fields (set through `extra=log_fields(...)`)."""

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 6
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)")
_NOISY_LOGGERS = ("httpx", "httpcore", "openai._base_client", "aiosqlite", "pymongo")
_HANDLER_MARK = "_cosmic_works_handler"
LANGSMITH_KEY_VARS = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")


# --------------------------------------------------------------------------------------------
# Request context
# --------------------------------------------------------------------------------------------


@dataclass
class RequestLogContext:
    """What is known about the request being served; filled in as the request proceeds."""

    request_id: str
    method: str = ""
    path: str = ""
    session_id: str | None = None
    run_id: str | None = None
    tools: list[str] = field(default_factory=list)
    model_calls: int = 0
    model_latency_ms: float = 0.0

    def ids(self) -> dict[str, str]:
        found = {"request_id": self.request_id}
        if self.session_id:
            found["session_id"] = self.session_id
        if self.run_id:
            found["run_id"] = self.run_id
        return found


_request_context: ContextVar[RequestLogContext | None] = ContextVar(
    "cosmic_works_request_context", default=None
)


def current_request() -> RequestLogContext | None:
    """The context of the request being served, or None outside a request (CLI, tests)."""
    return _request_context.get()


def bind_request(context: RequestLogContext) -> Token[RequestLogContext | None]:
    return _request_context.set(context)


def unbind_request(token: Token[RequestLogContext | None]) -> None:
    _request_context.reset(token)


def run_metadata() -> dict[str, str]:
    """Metadata for a graph run started by the current request: `{"request_id": ...}`.

    Tracers (LangSmith) record it with the run, so a trace can be found from a log line or
    from the `X-Request-Id` a client reports.
    """
    context = current_request()
    return {"request_id": context.request_id} if context is not None else {}


def log_fields(**fields: Any) -> dict[str, dict[str, Any]]:
    """`extra=` for a log call: `logger.info("...", extra=log_fields(status=200))`."""
    return {FIELDS_ATTR: {key: value for key, value in fields.items() if value is not None}}


# --------------------------------------------------------------------------------------------
# Formatters
# --------------------------------------------------------------------------------------------


class Redactor:
    """Replaces known secret values, bearer tokens and URL passwords with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}
        self._secrets = sorted(unique, key=len, reverse=True)  # longest first: no partial leak

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
        return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<2>", text)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Context ids, then the record's own fields (which win: a turn names its own session)."""
    context = current_request()
    found: dict[str, Any] = context.ids() if context is not None else {}
    own = getattr(record, FIELDS_ATTR, None)
    if isinstance(own, Mapping):
        found.update(own)
    return found


def _exception_text(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[0] is not None:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip()
    if record.stack_info:
        return record.stack_info
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, fields, exception."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _record_fields(record).items():
            entry.setdefault(key, value)
        exception = _exception_text(record)
        if exception:
            entry["exception"] = exception
        line = orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return self.redact(line)


class TextFormatter(logging.Formatter):
    """`2026-01-01T12:00:00.000Z INFO  logger: message key=value ...` for people."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _timestamp(record),
            f"{record.levelname:<7}",
            f"{record.name}:",
            record.getMessage(),
        ]
        for key, value in _record_fields(record).items():
            if isinstance(value, list | tuple):
                value = ",".join(str(item) for item in value)
            parts.append(f"{key}={value}")
        line = " ".join(parts)
        exception = _exception_text(record)
        if exception:
            line = f"{line}\n{exception}"
        return self.redact(line)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


class _StreamHandler(logging.Handler):
    """Writes to `stream`, or to the `sys.stderr` of the moment (test runners swap it)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self._stream if self._stream is not None else sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def resolve_format(log_format: str, stream: TextIO | None = None) -> str:
    """`json` or `text`; `auto` is text on a terminal and JSON anywhere else."""
    if log_format in ("json", "text"):
        return log_format
    target = stream if stream is not None else sys.stderr
    try:
        return "text" if target.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def configure_logging(
    log_format: str = "auto",
    level: str | int = "INFO",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install (or replace) our handler on the root logger; returns it.

    Idempotent: calling it again (every `create_app` does) swaps our handler and keeps other
    handlers. Uvicorn's loggers propagate to it; uvicorn's access log is off.
    """
    redact = Redactor(secrets)
    handler = _StreamHandler(stream)
    formatter: logging.Formatter = (
        JsonFormatter(redact)
        if resolve_format(log_format, stream) == "json"
        else TextFormatter(redact)
    )
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = True
    access.setLevel(logging.WARNING)  # app.observability writes the access log
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def remove_logging_handler(handler: logging.Handler) -> None:
    """Take a handler installed by `configure_logging` off the root logger (tests)."""
    logging.getLogger().removeHandler(handler)


def secret_values(settings: Any) -> list[str]:
    """Every secret the settings hold (and LangSmith's key): redacted wherever they appear."""
    from pydantic import SecretStr

    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
    principals = getattr(settings, "api_principals", None)
    try:
        keys = dict(principals or {})
    except (TypeError, ValueError):
        keys = {}
    found.extend(key.get_secret_value() for key in keys.values() if isinstance(key, SecretStr))
    for secret in list(found):
        password = _url_password(secret)
        if password:
            found.append(password)
    found.extend(os.environ[var] for var in LANGSMITH_KEY_VARS if os.environ.get(var))
    return found


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def configure_logging_from_settings(
    settings: Any, *, stream: TextIO | None = None
) -> logging.Handler:
    return configure_logging(
        settings.log_format, settings.log_level, secrets=secret_values(settings), stream=stream
    )
