"""OpenAI chat-completions requests: the body, and how its `messages` map onto a stored thread.

OpenAI clients are stateless: every call resends the whole conversation. Our threads are
stateful: the checkpointer already holds the earlier turns. `parse_conversation` and
`reconcile` turn the client's list into *one new turn* on the thread, never duplicating a turn
the thread holds. The rules (documented for clients in `docs/ecosystem.md`):

1. **System and developer messages are ignored**, wherever they are: the server owns the
   agent's system prompt (its tools and the shop's rules depend on it). Clients such as
   Open WebUI add one by default, so refusing them would break those clients.
2. **No client tools.** `tool` / `function` messages and assistant messages carrying
   `tool_calls` / `function_call` are refused (400): the agent calls its own tools, server
   side; a client's tool results have no place in the thread.
3. **Text only.** `content` is a string or a list of `{"type": "text", "text": ...}` parts;
   images, audio and files are refused (400).
4. **Shape.** Consecutive messages of one role are joined (blank line between them), leading
   assistant messages (a greeting shown by the client's UI) are dropped, and the list must
   then end with a user message: the **new turn** is that last user message. What comes
   before it is the client's history, (user, assistant) pairs.
5. **Reconciliation** with the thread's history `H` (its answered (question, answer) pairs, as
   `graphs.history.history_from_state` computes them; texts compared without surrounding
   whitespace) and the client's history `C`:
   * `C == H`: the client resent the conversation as stored — only the new turn runs;
   * `C` empty: the client sent only the new message (it relies on `X-Session-Id` for
     memory) — the new turn runs after the stored ones;
   * `C` extends `H` (`H` is a proper prefix of `C`): the missing pairs are added to the
     thread, then the new turn runs. A new session (no `X-Session-Id`) has `H = []`, so a
     stateless client's whole history is taken in; the added pairs belong to the turn and are
     rolled back with it if it fails;
   * anything else (the client edited or dropped an earlier turn, or regenerates the last
     answer): **409 `session_conflict`**. Stored turns are never rewritten: resend the
     history as stored, send only the new message, or start a new session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field

MODEL_ID = "cosmic-works-agent"
MAX_MESSAGES = 256
IGNORED_ROLES = frozenset({"system", "developer"})
TOOL_ROLES = frozenset({"tool", "function"})
KNOWN_ROLES = frozenset({"user", "assistant"}) | IGNORED_ROLES | TOOL_ROLES

Role = Literal["user", "assistant"]


class OpenAIRequestError(Exception):
    """A request the OpenAI-compatible routes refuse, rendered as an OpenAI error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type


def invalid(
    message: str, param: str | None = None, code: str = "invalid_request"
) -> OpenAIRequestError:
    return OpenAIRequestError(400, message, param=param, code=code)


# --------------------------------------------------------------------------------------------
# The request body
# --------------------------------------------------------------------------------------------


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`. Unknown fields (sampling options and the like) are
    accepted and ignored: OpenAI clients send many; the agent's model settings are the
    server's."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": MODEL_ID,
                    "messages": [
                        {
                            "role": "user",
                            "content": "What was the price of the product with sku `FR-R92B-58`?",
                        }
                    ],
                    "stream": False,
                }
            ]
        },
    )

    model: str | None = Field(None, description=f"`{MODEL_ID}` (the only model; omitted means it).")
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The conversation, OpenAI style; see the reconciliation rules.",
    )
    stream: bool | None = Field(False, description="Server-Sent Events `chat.completion.chunk`.")
    user: str | None = Field(
        None, max_length=256, description="End-user id, recorded as run metadata for tracing."
    )
    n: int | None = Field(None, description="Only 1 is supported.")
    tools: list[Any] | None = Field(None, description="Not supported: the agent has its own.")
    functions: list[Any] | None = Field(None, description="Not supported.")
    response_format: dict[str, Any] | None = Field(None, description="Only `text`.")


def check_options(body: ChatCompletionRequest) -> None:
    """Refuse options the agent cannot honour (instead of silently ignoring them)."""
    if body.model is not None and body.model != MODEL_ID:
        raise OpenAIRequestError(
            404,
            f"The model '{body.model}' does not exist; this server serves '{MODEL_ID}' "
            "(see GET /v1/models).",
            param="model",
            code="model_not_found",
        )
    if body.n not in (None, 1):
        raise invalid("n: only one choice per request is supported", "n")
    if body.tools or body.functions:
        param = "tools" if body.tools else "functions"
        raise invalid(
            f"{param}: client-side tools are not supported; the agent calls its own tools",
            param,
        )
    kind = (body.response_format or {}).get("type", "text")
    if kind != "text":
        raise invalid(
            f"response_format: only 'text' is supported, got {kind!r}", "response_format.type"
        )


# --------------------------------------------------------------------------------------------
# messages → (client history, new prompt)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conversation:
    """The client's messages, normalised: earlier (user, assistant) pairs and the new prompt."""

    history: tuple[dict[str, str], ...]  # alternating {"role": "user"|"assistant", "content"}
    prompt: str


def _text(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for index, part in enumerate(content):
            where = f"{param}[{index}]"
            if not isinstance(part, dict):
                raise invalid(f"{where}: a content part must be an object", where)
            kind = part.get("type")
            if kind != "text":
                raise invalid(
                    f"{where}: only text content parts are supported, got {kind!r}", where
                )
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid(f"{where}.text: required, a string", f"{where}.text")
            texts.append(text)
        return "\n".join(texts)
    raise invalid(f"{param}: required, a string or a list of text parts", param)


def parse_conversation(messages: Sequence[Any], max_prompt_chars: int) -> Conversation:
    """Apply rules 1–4 of the module docstring; raise a 400 `OpenAIRequestError` naming the
    offending `messages[i]` field."""
    turns: list[tuple[Role, str]] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise invalid(f"{param}: must be an object with 'role' and 'content'", param)
        role = message.get("role")
        if role not in KNOWN_ROLES:
            raise invalid(
                f"{param}.role: must be 'system', 'developer', 'user' or 'assistant', got {role!r}",
                f"{param}.role",
            )
        if role in IGNORED_ROLES:
            continue
        if role in TOOL_ROLES or message.get("tool_calls") or message.get("function_call"):
            raise invalid(
                f"{param}: tool calls and tool results are not accepted; the agent calls its "
                "own tools on the server",
                param,
                code="unsupported_message",
            )
        text = _text(message.get("content"), f"{param}.content")
        if role == "user":
            if not text.strip():
                raise invalid(f"{param}.content: a user message cannot be empty", param)
            if len(text) > max_prompt_chars:
                raise invalid(
                    f"{param}.content: at most {max_prompt_chars} characters", f"{param}.content"
                )
        if turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n\n{text}")
        else:
            turns.append((role, text))
    while turns and turns[0][0] == "assistant":
        turns.pop(0)  # a greeting shown by the client before the user's first message
    if not turns:
        raise invalid("messages: at least one user message is required", "messages")
    if turns[-1][0] != "user":
        raise invalid("messages: the last message must be the user's", "messages")
    prompt = turns[-1][1]
    if len(prompt) > max_prompt_chars:
        raise invalid(
            f"messages: the new user message(s) hold at most {max_prompt_chars} characters "
            "together",
            "messages",
        )
    history = tuple({"role": role, "content": text} for role, text in turns[:-1])
    return Conversation(history=history, prompt=prompt)


# --------------------------------------------------------------------------------------------
# Reconciliation with the stored thread
# --------------------------------------------------------------------------------------------


def _same(a: Sequence[dict[str, str]], b: Sequence[dict[str, str]]) -> bool:
    return len(a) == len(b) and all(
        x["role"] == y["role"] and x["content"].strip() == y["content"].strip()
        for x, y in zip(a, b, strict=True)
    )


def reconcile(
    conversation: Conversation, stored: Sequence[dict[str, str]], session_id: str
) -> list[BaseMessage]:
    """The messages to add to the thread before the new prompt (rule 5); 409 on conflict.

    `stored` is the thread's history as `history_from_messages` gives it.
    """
    client = conversation.history
    if not client or _same(client, stored):
        return []
    if len(client) > len(stored) and _same(client[: len(stored)], stored):
        return [
            HumanMessage(content=item["content"])
            if item["role"] == "user"
            else AIMessage(content=item["content"])
            for item in client[len(stored) :]
        ]
    raise OpenAIRequestError(
        409,
        f"messages: the conversation does not match session '{session_id}', which holds "
        f"{len(stored) // 2} earlier turn(s) (the client sent {len(client) // 2}). Stored "
        "turns are never rewritten: resend them as they are, send only the new user message, "
        "or omit X-Session-Id to start a new session.",
        param="messages",
        code="session_conflict",
    )
