"""Conversation routes: list the caller's sessions, load one's history, delete one.

Titles and timestamps come from the session index; a conversation's content comes from the
checkpointer, reduced by `history_from_state` to the (question, answer) pairs the frontend
shows. Sessions of another owner answer 404, like unknown ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from app.deps import OwnerDep, RuntimeDep
from app.schemas import SESSION_ID_PATTERN, HistoryItem, SessionDetail, SessionSummaryOut
from app.turns import (
    find_session,
    history_from_state,
    session_not_found,
    thread_config,
    turn_locks,
)
from graphs.sessions import SessionSummary

router = APIRouter(prefix="/session", tags=["sessions"])

SessionIdPath = Annotated[
    str, Path(pattern=SESSION_ID_PATTERN, description="The id returned by `/ai`.")
]

_EXAMPLE_ID = "0f8c6c1e9b7a4e3f9a1d2c3b4a5f6e7d"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such session for this caller",
        "content": {
            "application/json": {
                "example": {
                    "error": {
                        "code": "session_not_found",
                        "message": f"No session '{_EXAMPLE_ID}'.",
                    }
                }
            }
        },
    },
    422: {
        "description": "The id is not a valid session id",
        "content": {
            "application/json": {
                "example": {
                    "error": {
                        "code": "invalid_request",
                        "message": "path.session_id: String should match pattern ...",
                        "field": "path.session_id",
                    }
                }
            }
        },
    },
}


def _summary_out(summary: SessionSummary) -> SessionSummaryOut:
    return SessionSummaryOut(
        session_id=summary.session_id,
        title=summary.title,
        created_at=summary.created_at,
        updated_at=summary.updated_at,
    )


@router.get(
    "/list",
    response_model=list[SessionSummaryOut],
    summary="The caller's conversations, most recently used first",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [
                        {
                            "session_id": _EXAMPLE_ID,
                            "title": "What was the price of the product with sku FR-R92B-58?",
                            "created_at": 1767225600.0,
                            "updated_at": 1767225642.5,
                        }
                    ]
                }
            }
        }
    },
)
async def list_sessions(runtime: RuntimeDep, owner: OwnerDep) -> list[SessionSummaryOut]:
    return [_summary_out(summary) for summary in await runtime.sessions.list(owner=owner)]


@router.get(
    "/load/{session_id}",
    response_model=SessionDetail,
    summary="A conversation with its history of questions and answers",
    description=(
        "`history` alternates `user` and `assistant` items: `history[i]` is a question and "
        "`history[i+1]` its answer. Tool calls and unanswered prompts are not included."
    ),
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "session_id": _EXAMPLE_ID,
                        "title": "What was the price of the product with sku FR-R92B-58?",
                        "created_at": 1767225600.0,
                        "updated_at": 1767225642.5,
                        "history": [
                            {
                                "role": "user",
                                "content": "What was the price of the product with sku FR-R92B-58?",
                            },
                            {
                                "role": "assistant",
                                "content": "The HL Road Frame - Black, 58 costs $1431.50.",
                            },
                        ],
                    }
                }
            }
        },
        **_NOT_FOUND,
    },
)
async def load_session(
    session_id: SessionIdPath, runtime: RuntimeDep, owner: OwnerDep
) -> SessionDetail:
    summary = await find_session(runtime, session_id, owner)
    if summary is None:
        raise session_not_found(session_id)
    snapshot = await runtime.graph.aget_state(thread_config(runtime, session_id))
    history = history_from_state(snapshot.values)
    return SessionDetail(
        **_summary_out(summary).model_dump(),
        history=[HistoryItem.model_validate(item) for item in history],
    )


@router.delete(
    "/{session_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a conversation (its history and its entry in the list)",
    description="Waits for a turn running on the session to finish, then deletes it.",
    responses={204: {"description": "Deleted"}, **_NOT_FOUND},
)
async def delete_session(
    session_id: SessionIdPath, request: Request, runtime: RuntimeDep, owner: OwnerDep
) -> Response:
    if await find_session(runtime, session_id, owner) is None:
        raise session_not_found(session_id)
    # Under the turn lock: a turn finishing after the delete would recreate half a thread.
    async with turn_locks(request.app.state).hold(session_id):
        if runtime.checkpointer is not None:
            await runtime.checkpointer.adelete_thread(session_id)
        await runtime.sessions.delete(session_id)
    return Response(status_code=204)
