"""The offline chat model: a deterministic tool-calling model for demos and tests.

No language model can run on a fresh machine without a download, yet the agent must work there:
this model routes a question to the bound tools (`graphs.offline_routing`), then writes the
answer from their JSON (`graphs.offline_answers`). It streams word by word like a real model, so
token streaming, LangServe and `astream_events` can be shown and tested without a key. The same
conversation always yields the same messages: no randomness, no clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from graphs.offline_answers import (
    ToolResult,
    best_customer,
    canned_reply,
    parse_tool_result,
    shown_products,
    tool_unavailable_text,
    write_answer,
)
from graphs.offline_routing import (
    Context,
    Route,
    ToolCallSpec,
    customer_key,
    customer_orders_call,
    route_question,
)

MODEL_NAME = "cosmic-works-offline"
_TOKEN_RE = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Reply:
    """What the model says next: text, or tool calls (never both)."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(
        part if isinstance(part, str) else str(part.get("text", ""))
        for part in content
        if isinstance(part, str) or part.get("type") == "text"
    )


def _tool_names(tools: Sequence[Any] | None) -> frozenset[str]:
    """Names of the bound tools, whatever form they were bound in."""
    names: set[str] = set()
    for tool in tools or ():
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
        else:
            name = getattr(tool, "name", None) or getattr(tool, "__name__", None)
        if isinstance(name, str):
            names.add(name)
    return frozenset(names)


def _results_by_question(messages: Sequence[BaseMessage]) -> Iterator[tuple[str, ToolResult]]:
    """Every ToolMessage in `messages`, read, with the question that led to it.

    The tool's name comes from the AI message that made the call when the ToolMessage lacks it.
    """
    called: dict[str, str] = {}
    question = ""
    for message in messages:
        if isinstance(message, HumanMessage):
            question = _text(message)
        elif isinstance(message, AIMessage):
            called.update({call["id"] or "": call["name"] for call in message.tool_calls})
        elif isinstance(message, ToolMessage):
            name = message.name or called.get(message.tool_call_id, "")
            yield question, parse_tool_result(name, message.content, message.status)


def read_tool_results(messages: Sequence[BaseMessage]) -> list[ToolResult]:
    """Every ToolMessage in `messages`, read."""
    return [result for _, result in _results_by_question(messages)]


def conversation_context(history: Sequence[BaseMessage]) -> Context:
    """The product(s) and customer most recently found in earlier turns, for follow-ups."""
    context = Context()
    for question, result in _results_by_question(history):
        if result.status != "ok" or not result.docs:
            continue
        phrase = route_question(question).phrase
        if result.subject == "product":
            products, _ = shown_products(result, phrase)
            context = Context(tuple(products), context.customer, "product")
        elif result.subject == "customer":
            customer = best_customer(result.docs, phrase)
            context = Context(context.products, customer, "customer")
        elif result.subject == "order" and len(result.docs) == 1:
            # "What did they order?" after an order lookup means that order's customer.
            owner = str(result.docs[0].get("customerId") or "")
            known = context.customer and customer_key(context.customer) == owner
            if owner and not known:
                context = Context(context.products, {"customerId": owner}, "order")
    return context


def _call_id(turn: int, question: str, step: int, spec: ToolCallSpec) -> str:
    """A stable id: the same conversation always produces the same calls."""
    key = json.dumps([turn, question, step, spec.name, spec.args], sort_keys=True)
    return "call_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def decide(messages: Sequence[BaseMessage], tool_names: frozenset[str]) -> Reply:
    """The next reply to a conversation: tool calls while lookups remain, then the answer."""
    human_at = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if not human_at:
        return Reply(canned_reply(Route("help"), Context()))
    start = human_at[-1]
    question = _text(messages[start])
    history, turn = messages[:start], messages[start + 1 :]
    context = conversation_context(history)
    route = route_question(question, context)
    results = read_tool_results(turn)

    calls: tuple[ToolCallSpec, ...] = ()
    if not results:
        calls = route.calls
    elif route.intent == "customer_orders" and not any(r.subject == "order" for r in results):
        found = [r for r in results if r.subject == "customer" and r.status == "ok"]
        customer = best_customer(found[-1].docs, route.phrase, strict=True) if found else None
        calls = (customer_orders_call(customer),) if customer else ()
    if calls:
        missing = [c.name for c in calls if c.name not in tool_names]
        if missing:
            return Reply(tool_unavailable_text(missing[0]))
        step = sum(isinstance(m, AIMessage) for m in turn)
        return Reply(
            tool_calls=tuple(
                ToolCall(
                    name=c.name,
                    args=dict(c.args),
                    id=_call_id(len(human_at), question, step, c),
                    type="tool_call",
                )
                for c in calls
            )
        )
    if results:
        return Reply(write_answer(route, results, context))
    return Reply(canned_reply(route, context))


def _metadata(reply: Reply) -> dict[str, Any]:
    reason = "tool_calls" if reply.tool_calls else "stop"
    return {"model_name": MODEL_NAME, "finish_reason": reason}


def _message(reply: Reply) -> AIMessage:
    return AIMessage(
        content=reply.text, tool_calls=list(reply.tool_calls), response_metadata=_metadata(reply)
    )


def _chunks(reply: Reply) -> Iterator[ChatGenerationChunk]:
    """A word (with its trailing space) per chunk; tool calls in one final chunk."""
    if reply.tool_calls:
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[
                    tool_call_chunk(
                        name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=i
                    )
                    for i, call in enumerate(reply.tool_calls)
                ],
                response_metadata=_metadata(reply),
                chunk_position="last",
            )
        )
        return
    tokens = _TOKEN_RE.findall(reply.text) or [""]
    for i, token in enumerate(tokens):
        last = i == len(tokens) - 1
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=token,
                response_metadata=_metadata(reply) if last else {},
                chunk_position="last" if last else None,
            )
        )


class OfflineChatModel(BaseChatModel):
    """Deterministic tool-calling chat model for the Cosmic Works agent when no key exists.

    Bind the agent's tools with `bind_tools`; it only ever calls tools that were bound.
    """

    model_name: str = MODEL_NAME

    @property
    def _llm_type(self) -> str:
        return MODEL_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as OpenAI-format schemas (JSON-ready, like a hosted model's request).

        `tool_choice` is accepted for compatibility and ignored: routing decides.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, **kwargs)

    def reply(self, messages: Sequence[BaseMessage], **kwargs: Any) -> Reply:
        """The next reply, given the call's kwargs (`tools` from `bind_tools`)."""
        return decide(messages, _tool_names(kwargs.get("tools")))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=_message(self.reply(messages, **kwargs)))]
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, None, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The base class reports each chunk to the callbacks (on_llm_new_token) itself.
        yield from _chunks(self.reply(messages, **kwargs))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in _chunks(self.reply(messages, **kwargs)):
            yield chunk
