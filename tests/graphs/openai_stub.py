"""A scripted OpenAI / Azure OpenAI chat-completions server on a real loopback socket.

It answers at `/v1/chat/completions` (OpenAI form: base_url `http://127.0.0.1:PORT/v1`) and at
`/openai/deployments/{deployment}/chat/completions?api-version=...` (Azure form: endpoint
`http://127.0.0.1:PORT`), in JSON or as server-sent events (`stream: true`).

Script: while the last message of the request is not a tool result, it calls
`get_product_by_sku` with `{"sku": "FR-R92B-58"}`; once the last message has `role: "tool"`,
it answers with `final_answer(<that tool result>)`, e.g.
"The HL Road Frame - Black, 58 costs $1431.50 (stub)." Streamed answers come one word per
chunk; streamed tool calls come with their arguments split over several chunks.

Controls: `fail_next(Failure.rate_limit(), Failure.hang(), Failure.http_error(500))` queues
failures consumed one per request; `requests` records what was received (path, query,
headers with secrets redacted, JSON body, which credential was sent and whether it matched).

Usage::

    with OpenAIStub(api_key="sk-test") as stub:
        ChatOpenAI(base_url=stub.openai_base_url, api_key="sk-test", ...)
        AzureChatOpenAI(azure_endpoint=stub.azure_endpoint, api_key="sk-test", ...)
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

STUB_SKU = "FR-R92B-58"
STUB_TOOL_NAME = "get_product_by_sku"
STUB_TOOL_ARGUMENTS = json.dumps({"sku": STUB_SKU})
STUB_TOOL_CALL_ID = "call_stub_sku_1"
STUB_MODEL = "stub-gpt"

_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions/?$")
_OPENAI_PATH = re.compile(r"^/v1/chat/completions/?$")
_SECRET_HEADERS = frozenset({"api-key", "authorization", "ocp-apim-subscription-key"})


def final_answer(tool_content: str) -> str:
    """The stub's final answer for a tool result (what tests compare the AIMessage with)."""
    try:
        data = json.loads(tool_content)
    except (TypeError, ValueError):
        data = None
    if isinstance(data, dict) and "name" in data and "price" in data:
        return f"The {data['name']} costs ${float(data['price']):.2f} (stub)."
    if isinstance(data, dict) and data.get("error") == "not_found":
        return f"I could not find that product: {data.get('message', '')} (stub)."
    return f"The tool said: {str(tool_content)[:200]} (stub)."


@dataclass(frozen=True, slots=True)
class Failure:
    """One injected failure, consumed by the next request."""

    kind: Literal["status", "hang"]
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def rate_limit(cls) -> Failure:
        """HTTP 429 asking to retry at once (`retry-after: 0`, `retry-after-ms: 10`)."""
        return cls(
            kind="status",
            status=429,
            headers={"retry-after": "0", "retry-after-ms": "10"},
            body={
                "error": {
                    "message": "Rate limit reached for requests (stub).",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            },
        )

    @classmethod
    def hang(cls, seconds: float = 15.0) -> Failure:
        """Accept the request and send nothing for `seconds` (or until reset/stop)."""
        return cls(kind="hang", seconds=seconds)

    @classmethod
    def http_error(
        cls, status: int, code: str = "stub_error", message: str = "Injected failure (stub)."
    ) -> Failure:
        return cls(
            kind="status",
            status=status,
            headers={"x-should-retry": "false"},
            body={"error": {"message": message, "type": "stub", "code": code}},
        )


@dataclass(slots=True)
class RecordedRequest:
    """What the stub received (secrets redacted) and how it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    form: Literal["openai", "azure", "unknown"]
    deployment: str | None
    credential: Literal["api-key", "bearer", "none"]
    credential_ok: bool
    outcome: str = ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def tool_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("role") == "tool"]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else str(content)


def _redact(name: str, value: str) -> str:
    if name not in _SECRET_HEADERS:
        return value
    scheme, _, rest = value.partition(" ")
    if name == "authorization" and rest:
        return f"{scheme} ***"
    return "***"


class OpenAIStub:
    """The stub server. Start with `start()` or `with OpenAIStub() as stub:`."""

    def __init__(self, *, api_key: str | None = "sk-stub-key", host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.host = host
        self._lock = threading.Lock()
        self._failures: deque[Failure] = deque()
        self._requests: list[RecordedRequest] = []
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        server = ThreadingHTTPServer((self.host, 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stub is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For `ChatOpenAI(base_url=...)` / `OPENAI_BASE_URL`."""
        return f"{self.base_url}/v1"

    @property
    def azure_endpoint(self) -> str:
        """For `AzureChatOpenAI(azure_endpoint=...)` / `AZURE_OPENAI_ENDPOINT`."""
        return self.base_url

    # -- controls --------------------------------------------------------------------------

    def fail_next(self, *failures: Failure) -> None:
        with self._lock:
            self._failures.extend(failures)

    def reset(self) -> None:
        """Forget requests and pending failures; end any hang in progress."""
        self._release.set()
        with self._lock:
            self._failures.clear()
            self._requests.clear()
        self._release = threading.Event()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.form != "unknown"]

    # -- used by the handler ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> Failure | None:
        with self._lock:
            self._requests.append(request)
            return self._failures.popleft() if self._failures else None

    def _track(self, conn: socket.socket, active: bool) -> None:
        with self._lock:
            if active:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIStub
    protocol_version = "HTTP/1.1"
    server_version = "OpenAIStub/1.0"
    timeout = 30  # idle keep-alive connections end by themselves

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # keep pytest output clean

    # -- request handling ------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}

        form: Literal["openai", "azure", "unknown"] = "unknown"
        deployment = None
        if match := _AZURE_PATH.match(parts.path):
            form, deployment = "azure", match.group(1)
        elif _OPENAI_PATH.match(parts.path):
            form = "openai"

        credential, supplied = self._credential(form)
        expected = self.owner.api_key
        credential_ok = expected is None or supplied == expected
        request = RecordedRequest(
            method="POST",
            path=parts.path,
            query=query,
            headers={k.lower(): _redact(k.lower(), v) for k, v in self.headers.items()},
            body=body if isinstance(body, dict) else {"_body": body},
            form=form,
            deployment=deployment,
            credential=credential,
            credential_ok=credential_ok,
        )
        failure = self.owner._record(request)

        if form == "unknown":
            request.outcome = "404"
            self._send_error(404, "not_found", f"Unknown path {parts.path} (stub).")
            return
        if form == "azure" and not query.get("api-version"):
            request.outcome = "400"
            self._send_error(400, "missing_api_version", "api-version is required (stub).")
            return
        if not credential_ok:
            request.outcome = "401"
            self._send_error(401, "invalid_api_key", "Incorrect API key provided (stub).")
            return
        if failure is not None:
            request.outcome = (
                f"status:{failure.status}" if failure.kind == "status" else failure.kind
            )
            if failure.kind == "hang":
                self.owner._release.wait(failure.seconds)
                self.close_connection = True
                return
            self._send_json(failure.status, failure.body, failure.headers)
            return

        reply = _script(request)
        request.outcome = reply["kind"]
        model = str(body.get("model") or deployment or STUB_MODEL)
        if request.stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_stream(reply, model, azure=form == "azure", include_usage=include_usage)
        else:
            self._send_json(200, _completion(reply, model, azure=form == "azure"))

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._send_error(404, "not_found", "The stub only answers chat completions.")

    def _credential(self, form: str) -> tuple[Literal["api-key", "bearer", "none"], str | None]:
        api_key = self.headers.get("api-key")
        if api_key is not None and form == "azure":
            return "api-key", api_key
        auth = self.headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            return "bearer", auth[7:].strip()
        if api_key is not None:
            return "api-key", api_key
        return "none", None

    # -- writing ---------------------------------------------------------------------------

    def _send_error(self, status: int, code: str, message: str) -> None:
        body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
        self._send_json(status, body, {"x-should-retry": "false"})

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", f"req_stub_{time.monotonic_ns()}")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _send_stream(
        self, reply: dict[str, Any], model: str, *, azure: bool, include_usage: bool
    ) -> None:
        try:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for chunk in _stream_chunks(reply, model, azure=azure, include_usage=include_usage):
                self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except OSError:
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


# -- the script ------------------------------------------------------------------------------


def _script(request: RecordedRequest) -> dict[str, Any]:
    messages = request.messages
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return {"kind": "answer", "content": final_answer(_content_text(last.get("content")))}
    tool_names = {
        (tool.get("function") or {}).get("name") for tool in request.body.get("tools") or []
    }
    if STUB_TOOL_NAME in tool_names:
        return {"kind": "tool_call"}
    return {"kind": "answer", "content": "Hello from the stub (no tools were offered)."}


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}


def _completion(reply: dict[str, Any], model: str, *, azure: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if reply["kind"] == "tool_call":
        message["tool_calls"] = [
            {
                "id": STUB_TOOL_CALL_ID,
                "type": "function",
                "function": {"name": STUB_TOOL_NAME, "arguments": STUB_TOOL_ARGUMENTS},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = reply["content"]
        finish = "stop"
    body: dict[str, Any] = {
        "id": f"chatcmpl-stub-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_stub",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": _usage(),
    }
    if azure:
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {}}]
    return body


def _stream_chunks(
    reply: dict[str, Any], model: str, *, azure: bool, include_usage: bool
) -> list[dict[str, Any]]:
    base = {
        "id": f"chatcmpl-stub-{time.monotonic_ns()}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_stub",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    chunks: list[dict[str, Any]] = []
    if azure:  # Azure sends the prompt's content-filter results first, with no choices.
        chunks.append(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            }
        )
    if reply["kind"] == "tool_call":
        chunks.append(
            chunk(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": STUB_TOOL_CALL_ID,
                            "type": "function",
                            "function": {"name": STUB_TOOL_NAME, "arguments": ""},
                        }
                    ],
                }
            )
        )
        args = STUB_TOOL_ARGUMENTS
        pieces = [args[:8], args[8:16], args[16:]]
        for piece in pieces:
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        chunks.append(chunk({}, "tool_calls"))
    else:
        chunks.append(chunk({"role": "assistant", "content": ""}))
        for token in re.findall(r"\S+\s*", reply["content"]):
            chunks.append(chunk({"content": token}))
        chunks.append(chunk({}, "stop"))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage()})
    return chunks


# -- test environment ------------------------------------------------------------------------

# Variables that choose or configure a chat model, read by our Settings, langchain-openai or the
# openai SDK. Tests clear them so that the developer's shell or CI secrets never leak in.
MODEL_ENV_VARS = (
    "COSMIC_WORKS_MODEL",
    "COSMIC_WORKS_MODEL_TIMEOUT",
    "COSMIC_WORKS_MODEL_MAX_RETRIES",
    "COSMIC_WORKS_TEMPERATURE",
    "AZURE_OPENAI_ENDPOINT",
    "AOAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AOAI_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_OPENAI_CHAT_DEPLOYMENT",
    "OPENAI_API_VERSION",
    "OPENAI_API_TYPE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_MODEL",
    "OPENAI_ORG_ID",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT_ID",
    "OPENAI_PROXY",
    "LANGSMITH_GATEWAY",
    "LANGSMITH_GATEWAY_API_KEY",
    "LANGCHAIN_OPENAI_STREAM_CHUNK_TIMEOUT_S",
    "LANGCHAIN_OPENAI_TCP_KEEPALIVE",
)
PROXY_ENV_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def clean_model_env(monkeypatch: Any) -> None:
    """Remove every model/proxy variable and keep loopback traffic off any proxy."""
    for name in (*MODEL_ENV_VARS, *PROXY_ENV_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
