"""The app factory: one runtime per process, built in the lifespan and closed with it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from langchain_core.language_models import BaseChatModel

from app.auth import install_auth, warn_if_open_on_network
from app.errors import install_error_handlers
from app.limits import RequestLimits
from app.observability import install_observability, observed_runtime
from app.startup import StartupFailureReporter, record_startup_failure
from core.settings import Settings
from graphs.runtime import open_runtime

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Backend API of the Cosmic Works shop assistant: a LangGraph tool-calling agent over the
Cosmic Works products, customers and sales orders, with checkpointed conversations.

* `POST /ai` — the original frontend's route (JSON in, JSON out).
* `POST /ai/stream` — the same turn as Server-Sent Events, token by token.
* `/session/*` — list, load and delete conversations.
* `/agent/*` — the graph through LangServe (invoke, batch, stream, stream_events, playground).
* `/v1/*` — an OpenAI-compatible chat API (`/v1/models`, `/v1/chat/completions`).
"""


def create_app(settings: Settings | None = None, *, model: BaseChatModel | None = None) -> FastAPI:
    """Build the FastAPI app. Nothing is connected until the lifespan starts.

    `model` replaces the configured chat model (tests use a scripted fake).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warn_if_open_on_network(settings)
        async with AsyncExitStack() as stack:
            try:
                runtime = await stack.enter_async_context(open_runtime(settings, model=model))
            except Exception as exc:
                record_startup_failure(app.state, exc)
                raise
            app.state.runtime = observed_runtime(app, runtime)
            logger.info(
                "cosmic works agent ready: model=%s store=%s checkpointer=%s",
                settings.resolved_model,
                settings.store,
                settings.resolved_checkpointer,
            )
            try:
                yield
            finally:
                app.state.runtime = None

    app = FastAPI(
        title="Cosmic Works agent API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = None
    install_error_handlers(app)
    app.add_middleware(StartupFailureReporter, state=app.state)  # lifespan only; innermost
    # Added before CORS, so they run inside it: 401/413 answers carry the CORS headers.
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_body_bytes,
        max_prompt_chars=settings.max_prompt_chars,
    )
    install_auth(app, settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-API-Key",
            "X-Request-Id",
            "X-Session-Id",
        ],
        expose_headers=["X-Request-Id", "X-Session-Id"],
    )

    from app.routes import chat_page, health

    app.include_router(health.router)
    app.include_router(chat_page.router)
    _include_optional_routers(app)
    # Logging, /metrics, request ids and the access log. Its middleware is added last, so it
    # is the outermost: 401, 413, CORS preflights and errors get a request id and a log line.
    install_observability(app, settings)
    return app


def _include_optional_routers(app: FastAPI) -> None:
    """Chat, session and LangServe routes (each in its own module)."""
    from app.routes import chat, openai_compat, sessions

    app.include_router(chat.router)
    app.include_router(sessions.router)
    app.include_router(openai_compat.router)

    from app.langserve_routes import mount_langserve

    mount_langserve(app)
