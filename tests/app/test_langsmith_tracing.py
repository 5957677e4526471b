"""LangSmith tracing: with its standard variables set, LangChain's tracer sends the runs (with
the request id in their metadata) and nothing of ours disables it or logs the key.

Runs in a subprocess (LangSmith reads and caches its environment once per process) against
a local stand-in for the LangSmith API.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.server_process import server_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LANGSMITH_KEY = "lsv2_pt_test_0123456789abcdef0123456789"
REQUEST_ID = "trace-request-7"

CLIENT = """
import asyncio, sys
import httpx
from app.main import create_app
from core.settings import Settings

async def main():
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/ai",
                json={"prompt": "What was the price of the product with sku FR-R92B-58?"},
                headers={"X-Request-Id": sys.argv[1]},
            )
            assert response.status_code == 200, response.text
    from langchain_core.tracers.langchain import get_client, wait_for_all_tracers
    wait_for_all_tracers()
    get_client().flush()

asyncio.run(main())
"""


class _LangSmithStandIn(BaseHTTPRequestHandler):
    received: list[tuple[str, str, str | None, bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.received.append((self.command, self.path, self.headers.get("x-api-key"), body))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def langsmith_endpoint() -> Iterator[tuple[str, list[tuple[str, str, str | None, bytes]]]]:
    received: list[tuple[str, str, str | None, bytes]] = []
    handler = type("Handler", (_LangSmithStandIn,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_runs_are_traced_with_the_request_id_and_the_key_is_never_logged(
    data_dir: Path, langsmith_endpoint: tuple[str, list[tuple[str, str, str | None, bytes]]]
) -> None:
    endpoint, received = langsmith_endpoint
    env = server_env(
        data_dir,
        LANGSMITH_TRACING="true",
        LANGSMITH_API_KEY=LANGSMITH_KEY,
        LANGSMITH_ENDPOINT=endpoint,
        LANGSMITH_PROJECT="cosmic-works-test",
        COSMIC_WORKS_LOG_FORMAT="json",
        COSMIC_WORKS_LOG_LEVEL="DEBUG",
    )
    for stale in ("LANGCHAIN_TRACING_V2", "LANGCHAIN_API_KEY", "LANGCHAIN_ENDPOINT"):
        env.pop(stale, None)
    result = subprocess.run(
        [sys.executable, "-c", CLIENT, REQUEST_ID],
        cwd=data_dir, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]

    runs = [body for method, path, key, body in received if method == "POST" and "/runs" in path]
    assert runs, [(method, path) for method, path, _, _ in received]
    assert {key for method, path, key, _ in received if "/runs" in path} == {LANGSMITH_KEY}
    sent = b"".join(runs)
    assert REQUEST_ID.encode() in sent and b"request_id" in sent
    assert b"get_product_by_sku" in sent
    assert f'"request_id":"{REQUEST_ID}"' in result.stderr  # our own log lines
    assert LANGSMITH_KEY not in result.stderr + result.stdout
