"""Fuzzing every operation of `/openapi.json` with schemathesis (issue 6, item 4).

For each operation the app publishes, schemathesis generates requests from the schema —
valid ones (positive) and ones that break it (negative) — and sends them to the app over
its real ASGI stack (a Starlette test client that runs the lifespan once, on the offline model
and a copy of the sample catalog). Every response must satisfy:

* no status >= 500;
* every error (4xx) is JSON `{"error": {"code": str, "message": str, ...}}`;
* an event stream carries no failure either: an `error` event of `/ai/stream` never has the
  code `internal_error`, one of LangServe's streams never a `status_code` >= 500.

Bounded and deterministic: `MAX_EXAMPLES` per operation and mode, a fixed seed
(`derandomize`), no example database, no shrinking (a failure is recorded, not minimised: the
test lists every failing request at the end). The whole module runs in well under two minutes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from starlette_testclient import TestClient

from app.main import create_app
from app.schemas import SESSION_ID_PATTERN
from core.settings import Settings

pytestmark = pytest.mark.timeout(900)  # the first run on a machine builds the sample catalog


def _restore_many_more() -> None:
    """Give Hypothesis' private `many` back the `more()` that hypothesis-jsonschema calls.

    hypothesis-jsonschema 0.23.1 (schemathesis' generator for JSON bodies) drives
    `hypothesis.internal.conjecture.utils.many` with `while elements.more():`. Hypothesis
    6.165.10 still had that method; the locked 6.170.17 replaced it with
    `with many(...) as elements: for _ in elements:`, so every object body fails with
    "'many' object has no attribute 'more'". This adds `more()` on top of the new internals
    (same choices: finish the previous element, draw the continue decision, open the next
    element) and does nothing once either package has caught up or the lock pins an older
    Hypothesis.
    """
    from hypothesis.internal.conjecture import utils as conjecture_utils

    many = conjecture_utils.many
    if hasattr(many, "more") or not hasattr(many, "_decide"):
        return

    def more(self: Any) -> bool:
        if self._depth is None:
            self._depth = self.data.depth
        if self._in_element:
            self._finish_element()
        if not self._decide():
            return False
        self.count += 1
        self._in_element = True
        self._rejected = False
        return True

    many.more = more  # type: ignore[attr-defined]


_restore_many_more()

MAX_EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
BASE_URL = "http://testserver"
MAX_GENERATED_ITEMS = 3
# Operations whose valid requests run a turn: their positive cases must reach the agent, not
# only bounce off validation (which would make the fuzzing of the turn path vacuous).
REACH_THE_AGENT = frozenset(
    f"POST {path}"
    for path in ("/ai", "/ai/stream", "/agent/invoke", "/agent/batch", "/agent/stream",
                 "/agent/stream_log", "/agent/stream_events")
)  # fmt: skip


_HUMAN = {"messages": [{"type": "human", "content": "What is HL Road Frame?"}]}
_CONFIG = {"configurable": {"thread_id": "fuzz-valid"}}
# One known-valid request per run operation, always sent first (Hypothesis' explicit phase):
# whether *generated* bodies happen to pass the server's stricter checks (last message human,
# non-empty text...) depends on the draw, and the turn path must be exercised regardless.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "POST /ai": {"prompt": "What is HL Road Frame?"},
    "POST /ai/stream": {"prompt": "What is HL Road Frame?"},
    "POST /agent/batch": {"inputs": [_HUMAN], "config": _CONFIG},
    **{
        f"POST /agent/{name}": {"input": _HUMAN, "config": _CONFIG}
        for name in ("invoke", "stream", "stream_log", "stream_events")
    },
}


def _settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        model="offline",
        embeddings="local",
        store="sqlite",
        checkpointer="sqlite",
    )


def _published_operations() -> list[str]:
    """`METHOD /path` of every operation in the app's OpenAPI document (no lifespan needed)."""
    spec = create_app(_settings(Path(".data-unused"))).openapi()
    return [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    ]


OPERATIONS = _published_operations()


@pytest.fixture(scope="module")
def served(
    sample_catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Any]]:
    """One app for the module (lifespan running), its client and its loaded OpenAPI schema."""
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    data_dir.mkdir()
    shutil.copy(sample_catalog_file, data_dir / "catalog.sqlite")
    app = create_app(_settings(data_dir))
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        schema = schemathesis.openapi.from_dict(for_generation(client.get("/openapi.json").json()))
        yield client, schema


def for_generation(spec: dict[str, Any]) -> dict[str, Any]:
    """The published schema, eased for the generator (the server is not told anything).

    * `oneOf` → `anyOf`: LangServe's message union (human | ai) overlaps, and
      hypothesis-jsonschema enforces "exactly one" by rejection sampling, which costs one to
      two minutes per operation; with `anyOf` the same messages come in seconds.
    * At most `MAX_GENERATED_ITEMS` messages per input and inputs per batch (the server's own
      limits, 50 messages and 16 inputs, are tested in tests/app/test_langserve.py and
      tests/app/test_limits.py).
    * A message's `type` required: LangChain's schemas give it a default, but the server
      needs it to tell a human message from an AI one and refuses a message without it (422).
    * `config.configurable.thread_id` required, with the session-id pattern: the server
      refuses a run without one (422), so without this every positive run case would stop
      there instead of reaching the agent. Negative cases still drop or break it.
    """
    eased: dict[str, Any] = json.loads(json.dumps(spec).replace('"oneOf"', '"anyOf"'))
    schemas = eased.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        properties = schema.get("properties", {})
        if name in ("HumanMessage", "AIMessage") and "type" in properties:
            schema["required"] = sorted({*schema.get("required", []), "type"})
        if name == "AgentInput" and "messages" in properties:
            properties["messages"]["maxItems"] = MAX_GENERATED_ITEMS
        if name.endswith("BatchRequest") and "inputs" in properties:
            properties["inputs"]["maxItems"] = MAX_GENERATED_ITEMS
            properties["inputs"]["minItems"] = 1
        if name.endswith("Configurable") and "thread_id" in properties:
            properties["thread_id"]["pattern"] = SESSION_ID_PATTERN
            schema["required"] = sorted({*schema.get("required", []), "thread_id"})
        if name.endswith("_config") and "configurable" in properties:
            schema["required"] = sorted({*schema.get("required", []), "configurable"})
        if (
            name.endswith(
                (
                    "InvokeRequest",
                    "StreamRequest",
                    "StreamLogRequest",
                    "StreamEventsRequest",
                    "BatchRequest",
                )
            )
            and "config" in properties
        ):
            schema["required"] = sorted({*schema.get("required", []), "config"})  # fmt: skip
    return eased


FREE_PATH_VALUE = "fuzz"


def strategy_for(operation: Any, mode: GenerationMode) -> Any:
    """The case strategy of `operation` in `mode`; None when no negative case can exist.

    Schemathesis negates path parameters before anything else, and a free-form string path
    parameter (`/agent/c/{config_hash}/...`, `/v1/models/{model_id}`) has no invalid value, so
    every negative case would be rejected (hypothesis gives up after ~450 tries, seconds each
    time). In negative mode such parameters get a fixed valid value and the other parts of the
    request (the body) are negated; with nothing else to negate there is no negative case.
    """
    if mode is GenerationMode.POSITIVE:
        return operation.as_strategy(generation_mode=mode)
    path = operation.path_parameters
    properties: dict[str, Any] = path.schema["properties"] if len(path) else {}
    free = {  # schemathesis itself adds `minLength: 1` to every path parameter
        name: FREE_PATH_VALUE
        for name, schema in properties.items()
        if schema.get("type") == "string"
        and schema.get("minLength", 1) == 1
        and not {"pattern", "enum", "format", "maxLength", "const"} & set(schema)
    }
    negatable = [operation.query, operation.headers, operation.cookies, operation.body]
    if len(properties) > len(free):
        negatable.append(path)
    if not any(len(group) for group in negatable):
        return None
    return operation.as_strategy(generation_mode=mode, path_parameters=free or None)


def problems_of(response: Any, path: str) -> list[str]:
    """What is wrong with one response (empty when it is fine).

    `/v1/*` (the OpenAI-compatible API) answers errors in OpenAI's shape, `{"error":
    {"message", "type", "param", "code"}}` with a nullable `code`; every other route in ours.
    """
    status = response.status_code
    content_type = ", ".join(response.headers.get("content-type", []))  # schemathesis: lists
    text = response.text
    if status >= 500:
        return [f"status {status}: {text[:300]}"]
    if status >= 400:
        if not content_type.startswith("application/json"):
            return [f"status {status} with content-type {content_type!r}: {text[:300]}"]
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return [f"status {status} without a JSON error body: {text[:300]}"]
        keys = ("message", "type") if path.startswith("/v1/") else ("code", "message")
        if not (isinstance(error, dict) and all(isinstance(error.get(k), str) for k in keys)):
            return [f"status {status}: error without {' and '.join(keys)}: {text[:300]}"]
        return []
    if content_type.startswith("text/event-stream"):
        return [f"failure inside the stream: {data}" for data in failed_stream_events(text)]
    return []


def failed_stream_events(text: str) -> list[Any]:
    """Server failures reported inside a 200 event stream, in any of the three stream shapes:
    `/ai/stream`'s `error` event `{"code", "message"}`, LangServe's `error` event
    `{"status_code", "message", "error"}` and the OpenAI stream's `data: {"error": {...}}`."""
    failed = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        raw = "\n".join(line[len("data:") :].strip() for line in lines if line.startswith("data:"))
        if "event: error" not in lines and '"error"' not in raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        nested = data.get("error")
        code = nested.get("code") if isinstance(nested, dict) else data.get("code")
        kind = nested.get("type") if isinstance(nested, dict) else None
        status = data.get("status_code")
        if (
            code == "internal_error"
            or kind == "server_error"
            or (isinstance(status, int) and status >= 500)
        ):
            failed.append(data)
    return failed


@pytest.mark.parametrize("mode", list(MAX_EXAMPLES), ids=lambda mode: mode.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_errors_and_json_error_bodies(
    served: tuple[TestClient, Any], label: str, mode: GenerationMode
) -> None:
    client, schema = served
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served schema"
    strategy = strategy_for(operation, mode)
    if strategy is None:
        pytest.skip("nothing but free-form path strings to negate: no invalid request exists")
    failures: list[str] = []
    sent: list[int] = []

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: Any) -> None:
        response = case.call(session=client, base_url=BASE_URL)
        sent.append(response.status_code)
        for problem in problems_of(response, operation.path):
            failures.append(f"{problem}\n  reproduce: {case.as_curl_command()}")

    if mode is GenerationMode.POSITIVE and label in VALID_BODIES:
        exercise = example(case=operation.Case(body=VALID_BODIES[label]))(exercise)
    exercise()
    assert sent, f"no request was generated for {label}"
    if mode is GenerationMode.POSITIVE and label in REACH_THE_AGENT:
        assert any(200 <= status < 300 for status in sent), (label, sorted(set(sent)))
    assert not failures, f"{len(failures)} bad responses of {label}:\n" + "\n".join(failures[:10])


# --------------------------------------------------------------------------------------------
# Regressions: requests the fuzzer found that were answered with a 500 (now 422, field named)
# --------------------------------------------------------------------------------------------


def _nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


_INVALID_CALL = {"name": None, "args": None, "id": None, "error": None, "type": "invalid_tool_call"}
FUZZ_FINDINGS: dict[str, tuple[list[dict[str, Any]], str]] = {
    # LangChain's AIMessage validator raised TypeError (not a ValidationError) at the guard.
    "invalid tool call with an unknown key": (
        [{"type": "ai", "content": "x", "invalid_tool_calls": [{**_INVALID_CALL, "index": 1}]}],
        "input.messages",
    ),
    # Refused like `tool_calls`: providers get them back as unpaired tool calls.
    "AI message with invalid tool calls": (
        [{"type": "ai", "content": "x", "invalid_tool_calls": [_INVALID_CALL]}],
        "input.messages.0.invalid_tool_calls",
    ),
    # orjson (LangServe's serializer) cannot write these back: streams echo the input.
    "integer beyond 64 bits": (
        [{"type": "ai", "content": "x", "additional_kwargs": {"n": 2**70}}],
        "input.messages.0.additional_kwargs.n",
    ),
    "nesting deeper than the serializer allows": (
        [{"type": "ai", "content": "x", "additional_kwargs": {"n": _nested(300)}}],
        "input.messages.0.additional_kwargs.n",
    ),
}


@pytest.mark.parametrize("endpoint", ["invoke", "batch", "stream", "stream_log", "stream_events"])
@pytest.mark.parametrize("finding", list(FUZZ_FINDINGS))
async def test_fuzz_findings_are_422_naming_the_field(
    client: Any, endpoint: str, finding: str
) -> None:
    messages, field = FUZZ_FINDINGS[finding]
    run_input = {"messages": [*messages, {"type": "human", "content": "hi"}]}
    config = {"configurable": {"thread_id": f"fuzz-{endpoint}"}}
    if endpoint == "batch":
        body: dict[str, Any] = {"inputs": [run_input], "config": [config]}
        field = field.replace("input.", "inputs.0.", 1)
    else:
        body = {"input": run_input, "config": config}
    response = await client.post(
        f"/agent/{endpoint}", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"].startswith(field), error


async def test_a_body_nested_too_deep_for_the_json_parser_is_422(client: Any) -> None:
    """The guard's `request.json()` raised RecursionError: a 500."""
    response = await client.post(
        "/agent/invoke", content="[" * 60_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
