"""Probes: `/` for the original frontend, `/healthz` (alive) and `/readyz` (dependencies up)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import RuntimeDep
from app.errors import classify_exception
from app.schemas import StatusOut

router = APIRouter(tags=["health"])

READINESS_TIMEOUT_S = 2.0
"""At least this long; longer when the MongoDB timeout is set higher, so that a down database
is reported by name rather than as a probe timeout."""


@router.get("/", response_model=StatusOut, summary="Readiness of the API (original lab contract)")
async def root() -> dict[str, str]:
    return {"status": "ready"}


@router.get("/healthz", response_model=StatusOut, summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(name: str, probe: Any, timeout_s: float) -> tuple[str, dict[str, str]]:
    try:
        await asyncio.wait_for(probe, timeout=timeout_s)
    except TimeoutError:
        return name, {"status": "error", "message": f"no answer within {timeout_s} s"}
    except Exception as exc:
        return name, {"status": "error", "message": classify_exception(exc).message}
    return name, {"status": "ok"}


async def _checkpointer_probe(runtime: Any) -> None:
    checkpointer = runtime.checkpointer
    if checkpointer is not None:
        await checkpointer.aget_tuple({"configurable": {"thread_id": "__readyz__"}})


@router.get(
    "/readyz",
    summary="Readiness: catalog store, conversation store and session index reachable",
    responses={503: {"description": "A dependency is unreachable (named in `checks`)"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    timeout_s = max(READINESS_TIMEOUT_S, runtime.settings.mongodb_timeout_s + 0.5)
    results = dict(
        await asyncio.gather(
            _check("store", runtime.store.ping(), timeout_s),
            _check("checkpointer", _checkpointer_probe(runtime), timeout_s),
            _check("sessions", runtime.sessions.ping(), timeout_s),
        )
    )
    ready = all(item["status"] == "ok" for item in results.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": results}
    if not ready:
        failed = ", ".join(name for name, item in results.items() if item["status"] != "ok")
        body["error"] = {"code": "dependency_unavailable", "message": f"unreachable: {failed}"}
    return JSONResponse(body, status_code=200 if ready else 503)
