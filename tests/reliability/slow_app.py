"""A test-only app factory for real-uvicorn fault tests: the real app over a slow model.

    uvicorn --factory tests.reliability.slow_app:create_app

Everything is the production app (`app.main.create_app`, settings from the environment, SQLite
store and checkpointer) except the chat model, a `ScriptedChatModel` that streams word by word
with `COSMIC_WORKS_TEST_TOKEN_DELAY` seconds (default 0.05) before each chunk:

* a prompt containing `slow` calls `get_product_by_sku` first, then answers with
  `SLOW_ANSWER_WORDS` words (10 s at the default delay): a turn that is easy to catch mid-way;
* any other prompt is answered at once with `Answer to <prompt>`.

`COSMIC_WORKS_TEST_TOOL_DELAY` (seconds, default 0) makes every sku lookup of the catalog store
sleep first, so that a test can catch a turn while its tool runs (a checkpointed tool call
without its result).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import FastAPI
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from tests.fakes import ScriptedChatModel, tool_call

TOKEN_DELAY_ENV = "COSMIC_WORKS_TEST_TOKEN_DELAY"
TOOL_DELAY_ENV = "COSMIC_WORKS_TEST_TOOL_DELAY"
SLOW_MARKER = "slow"
SLOW_ANSWER_WORDS = 200


def respond(messages: list[BaseMessage]) -> AIMessage:
    """Slow prompts: a sku lookup, then a long answer; other prompts: `Answer to <prompt>`."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(" ".join(f"word{i}" for i in range(SLOW_ANSWER_WORDS)))
    prompt = next(m for m in reversed(messages) if isinstance(m, HumanMessage)).text
    if SLOW_MARKER in prompt:
        return tool_call("get_product_by_sku", {"sku": "FR-R92B-58"}, f"call_{len(messages)}")
    return AIMessage(f"Answer to {prompt}")


def _slow_down_sku_lookups(seconds: float) -> None:
    from catalog.sqlite_store import SqliteCatalogStore

    original = SqliteCatalogStore.get_product_by_sku

    async def delayed(self: SqliteCatalogStore, sku: str) -> Any:
        await asyncio.sleep(seconds)
        return await original(self, sku)

    SqliteCatalogStore.get_product_by_sku = delayed  # type: ignore[method-assign]


def create_app() -> FastAPI:
    from app.main import create_app as create_real_app

    tool_delay = float(os.environ.get(TOOL_DELAY_ENV) or 0)
    if tool_delay > 0:
        _slow_down_sku_lookups(tool_delay)
    model = ScriptedChatModel(
        responder=respond, token_delay=float(os.environ.get(TOKEN_DELAY_ENV) or 0.05)
    )
    return create_real_app(model=model)
