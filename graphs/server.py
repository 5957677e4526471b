"""Graph entry for the LangGraph server (`langgraph dev` / Studio), named in `langgraph.json`.

The server brings its own persistence, so this graph is compiled without a checkpointer (the
server refuses one that has its own). Settings come from the environment as everywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from core.settings import Settings
from graphs.runtime import open_runtime


@asynccontextmanager
async def make_graph(
    config: RunnableConfig,
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """Open the store and model for one server run and yield the agent graph."""
    del config  # every choice comes from settings; nothing per-run so far
    async with open_runtime(Settings(), with_checkpointer=False) as runtime:
        yield runtime.graph
