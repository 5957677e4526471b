"""Typed FastAPI dependencies: the runtime built by the lifespan, and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.errors import ApiError
from graphs.runtime import AgentRuntime


async def get_runtime(request: Request) -> AgentRuntime:
    runtime: AgentRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ApiError(503, "starting", "The service is starting or shutting down; retry shortly.")
    return runtime


def owner_of(request: Request) -> str:
    """The principal that owns sessions created by this request ("" in open local mode)."""
    return str(getattr(request.state, "principal", "") or "")


async def get_owner(request: Request) -> str:
    # async: a plain `def` dependency would cost a threadpool hop on every request.
    return owner_of(request)


RuntimeDep = Annotated[AgentRuntime, Depends(get_runtime)]
OwnerDep = Annotated[str, Depends(get_owner)]
