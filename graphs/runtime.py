"""The agent runtime: store, embeddings, model, checkpointer and compiled graph, built once.

The app's lifespan, the CLI and the LangGraph server entry all assemble the agent here, so that
every way of running it uses the same pieces chosen by settings alone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability

from catalog.store import CatalogStore
from core.settings import Settings
from graphs.checkpointer import open_checkpointer
from graphs.graph import build_graph
from graphs.sessions import (
    MemorySessionIndex,
    SessionIndex,
    open_mongo_session_index,
    open_sqlite_session_index,
)

logger = logging.getLogger(__name__)

TURN_DURABILITY: Durability = "exit"
"""When the service's turns write checkpoints: once, when the run ends. LangGraph's default
("async") writes one per step (four a turn: input, agent, tools, agent), each a thread hop
to SQLite or a round trip to MongoDB in the middle of the turn; `benchmarks/RESULTS.md` has
the numbers. Nothing is lost by it: a turn is all or nothing for the service anyway (a failed
or cancelled one is rolled back, `app.turns`), and a process killed mid-turn now leaves no
trace of that turn instead of a half that had to be skipped on load."""


@dataclass(frozen=True)
class AgentRuntime:
    settings: Settings
    embeddings: Embeddings
    store: CatalogStore
    model: BaseChatModel
    tools: list[BaseTool]
    checkpointer: BaseCheckpointSaver[Any] | None
    sessions: SessionIndex
    graph: CompiledStateGraph[Any, Any, Any, Any]

    def run_config(self, thread_id: str, **extra: Any) -> RunnableConfig:
        """Config for one turn on `thread_id`, with the step limit from settings."""
        configurable = {"thread_id": thread_id, **extra}
        return {"configurable": configurable, "recursion_limit": self.settings.recursion_limit}


async def _open_session_index(
    settings: Settings, stack: AsyncExitStack, with_checkpointer: bool
) -> SessionIndex:
    """The session index beside the checkpoints: same backend, so replicas on MongoDB share it."""
    backend = settings.resolved_checkpointer if with_checkpointer else "memory"
    if backend == "sqlite":
        return await stack.enter_async_context(
            open_sqlite_session_index(settings.sqlite_sessions_path)
        )
    if backend == "mongodb":
        return await stack.enter_async_context(open_mongo_session_index(settings))
    return MemorySessionIndex()


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    with_checkpointer: bool = True,
    load_sample_if_empty: bool = True,
    model: BaseChatModel | None = None,
) -> AsyncIterator[AgentRuntime]:
    """Build every piece, yield the runtime, close everything on exit (in reverse order)."""
    from catalog.embeddings import build_embeddings
    from catalog.factory import open_catalog_store
    from graphs.chat_models import build_chat_model
    from tools import build_tools

    async with AsyncExitStack() as stack:
        embeddings = build_embeddings(settings)
        store = await open_catalog_store(settings, embeddings)
        stack.push_async_callback(store.aclose)
        if load_sample_if_empty:
            from catalog.loader import ensure_sample_loaded

            report = await ensure_sample_loaded(store)
            if report is not None:
                logger.info("loaded the bundled sample catalog into an empty store")
        checkpointer = (
            await stack.enter_async_context(open_checkpointer(settings))
            if with_checkpointer
            else None
        )
        sessions = await _open_session_index(settings, stack, with_checkpointer)
        chat_model = model if model is not None else build_chat_model(settings)
        tools = build_tools(store)
        graph = build_graph(
            chat_model,
            tools,
            checkpointer,
            max_context_messages=settings.max_context_messages,
            on_turn=sessions.record_turn,
        )
        yield AgentRuntime(
            settings=settings,
            embeddings=embeddings,
            store=store,
            model=chat_model,
            tools=tools,
            checkpointer=checkpointer,
            sessions=sessions,
            graph=graph,
        )
