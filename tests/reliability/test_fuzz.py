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
from hypothesis import HealthCheck, Phase, given
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

    many.more = more


_restore_many_more()

MAX_EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
BASE_URL = "http://testserver"
MAX_GENERATED_ITEMS = 3


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
    * `config.configurable.thread_id` required, with the session-id pattern: the server
      refuses a run without one (422), so without this every positive run case would stop
      there instead of reaching the agent. Negative cases still drop or break it.
    """
    eased: dict[str, Any] = json.loads(json.dumps(spec).replace('"oneOf"', '"anyOf"'))
    schemas = eased.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        properties = schema.get("properties", {})
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


def has_inputs(operation: Any) -> bool:
    """Whether the operation takes any parameter or body (else negative cases cannot exist)."""
    return any(
        len(group) > 0
        for group in (
            operation.path_parameters,
            operation.query,
            operation.headers,
            operation.cookies,
            operation.body,
        )
    )


def problems_of(response: Any) -> list[str]:
    """What is wrong with one response (empty when it is fine)."""
    status = response.status_code
    content_type = ", ".join(response.headers.get("content-type", []))  # schemathesis: lists
    if status >= 500:
        return [f"status {status}: {response.text[:300]}"]
    if status >= 400:
        if not content_type.startswith("application/json"):
            return [f"status {status} with content-type {content_type!r}: {response.text[:300]}"]
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return [f"status {status} without a JSON error body: {response.text[:300]}"]
        if not (isinstance(error.get("code"), str) and isinstance(error.get("message"), str)):
            return [f"status {status}: error without code/message: {response.text[:300]}"]
        return []
    if content_type.startswith("text/event-stream"):
        return [f"stream error event: {data}" for data in _failed_stream_events(response.text)]
    return []


def _failed_stream_events(text: str) -> list[Any]:
    failed = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        if "event: error" not in lines:
            continue
        raw = "\n".join(line[len("data: ") :] for line in lines if line.startswith("data: "))
        data = json.loads(raw) if raw else {}
        code = (data.get("error") or {}).get("code") if "error" in data else data.get("code")
        if code == "internal_error" or int(data.get("status_code") or 0) >= 500:
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
    if mode is GenerationMode.NEGATIVE and not has_inputs(operation):
        pytest.skip("no parameter and no body: there is no invalid request to make")
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
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: Any) -> None:
        response = case.call(session=client, base_url=BASE_URL)
        sent.append(response.status_code)
        for problem in problems_of(response):
            failures.append(f"{problem}\n  reproduce: {case.as_curl_command()}")

    exercise()
    assert sent, f"no request was generated for {label}"
    assert not failures, f"{len(failures)} bad responses of {label}:\n" + "\n".join(failures[:10])
