"""Request and response bodies of our own routes (LangServe brings its own)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
NEW_SESSION_ID = "1234"  # the original frontend's "no session yet" id
MAX_PROMPT_CHARS = 4000  # the default of COSMIC_WORKS_MAX_PROMPT_CHARS
# The serving app's prompt limit, set per request by `app.limits.RequestLimits`.
prompt_limit: ContextVar[int] = ContextVar("prompt_limit", default=MAX_PROMPT_CHARS)


class AiRequest(BaseModel):
    """The original lab's body: `"1234"` or no session id starts a new session."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "session_id": "1234",
                    "prompt": "What was the price of the product with sku `FR-R92B-58`?",
                }
            ]
        },
    )

    session_id: str | None = Field(
        None,
        pattern=SESSION_ID_PATTERN,
        description='Conversation id. Omit it or send "1234" to start a new session.',
    )
    prompt: str = Field(
        min_length=1,
        description="The question; at most COSMIC_WORKS_MAX_PROMPT_CHARS characters "
        f"(default {MAX_PROMPT_CHARS}).",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_within_limit(cls, value: str) -> str:
        limit = prompt_limit.get()
        if len(value) > limit:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": limit},
            )
        return value


class AiResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "The HL Road Frame - Black, 58 (sku FR-R92B-58) costs $1431.50.",
                    "session_id": "0f8c6c1e9b7a4e3f9a1d2c3b4a5f6e7d",
                }
            ]
        }
    )

    message: str
    session_id: str


class SessionSummaryOut(BaseModel):
    session_id: str
    title: str
    created_at: float
    updated_at: float


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class SessionDetail(SessionSummaryOut):
    history: list[HistoryItem]


class StatusOut(BaseModel):
    status: str
