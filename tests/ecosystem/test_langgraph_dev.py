"""`langgraph dev` serves the agent graph and, through `http.app`, our routes — offline.

The CLI runs from a temporary directory with a copy of `langgraph.json` whose paths point at
the repository, so the in-memory server's `.langgraph_api/` state and any `.env` lookup stay
out of the checkout. Analytics, tracing and the PyPI version check are switched off, and no
LangSmith key is passed: the server starts without the network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server_process import ROOT, free_port, server_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"
LANGGRAPH = Path(sys.executable).with_name("langgraph")
STARTUP_TIMEOUT_S = 180.0
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # the CLI's usage analytics
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # the server's "newer langgraph-api?" PyPI lookup
}
SECRET_PREFIXES = ("LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_", "LANGCLOUD_")


@dataclass(frozen=True)
class DevServer:
    base_url: str
    cwd: Path
    log: Path


def _absolute(spec: str) -> str:
    """`./graphs/server.py:make_graph` → `/repo/graphs/server.py:make_graph`."""
    path, sep, attribute = spec.rpartition(":")
    return f"{(ROOT / path).resolve()}{sep}{attribute}" if "/" in path else spec


def _config_for_temp_dir() -> dict[str, object]:
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str((ROOT / dep).resolve()) for dep in config["dependencies"]]
    config["graphs"] = {name: _absolute(spec) for name, spec in config["graphs"].items()}
    config["http"] = {**config["http"], "app": _absolute(config["http"]["app"])}
    return config


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-6000:] if log.exists() else "(no log)"


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"langgraph dev not up after {STARTUP_TIMEOUT_S} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the CLI and its reloader's worker (they share the new process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # a worker left behind by the reloader
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def dev_server(
    tmp_path_factory: pytest.TempPathFactory, sample_store_path: Path
) -> Iterator[DevServer]:
    if not LANGGRAPH.is_file():
        # The dev lock installs it: in CI a missing CLI is a broken install, not a skip.
        reason = f"langgraph CLI not installed next to {sys.executable}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("langgraph-dev")
    data_dir = work / "data"
    data_dir.mkdir()
    (data_dir / "catalog.sqlite").write_bytes(sample_store_path.read_bytes())
    cwd = work / "server"
    cwd.mkdir()
    config = cwd / "langgraph.json"
    config.write_text(json.dumps(_config_for_temp_dir(), indent=2))

    env = {k: v for k, v in server_env(data_dir).items() if not k.startswith(SECRET_PREFIXES)}
    env.update(OFFLINE_ENV)
    port = free_port()
    log = work / "langgraph-dev.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--no-browser", "--port", str(port), "--host", "127.0.0.1",
             "--config", str(config)],
            cwd=cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, process, log)
        yield DevServer(base_url, cwd, log)
    finally:
        _stop(process)


def test_agent_runs_through_the_langgraph_api(dev_server: DevServer) -> None:
    with httpx.Client(base_url=dev_server.base_url, timeout=120) as client:
        thread = client.post("/threads", json={})
        assert thread.status_code == 200, thread.text
        thread_id = thread.json()["thread_id"]
        run = client.post(
            f"/threads/{thread_id}/runs/wait",
            json={
                "assistant_id": "agent",
                "input": {"messages": [{"type": "human", "content": ACCEPTANCE}]},
            },
        )
        assert run.status_code == 200, f"{run.text}\n{_tail(dev_server.log)}"
        messages = run.json()["messages"]
        assert messages[-1]["type"] == "ai" and "$1431.50" in messages[-1]["content"]
        state = client.get(f"/threads/{thread_id}/state")
        assert state.status_code == 200 and len(state.json()["values"]["messages"]) == 4
    assert (dev_server.cwd / ".langgraph_api").is_dir()  # the server's state: not in the repo


def test_our_routes_are_served_by_the_same_server(dev_server: DevServer) -> None:
    with httpx.Client(base_url=dev_server.base_url, timeout=120) as client:
        assert client.get("/").json() == {"status": "ready"}
        ai = client.post("/ai", json={"session_id": "1234", "prompt": ACCEPTANCE})
        assert ai.status_code == 200, ai.text
        assert "$1431.50" in ai.json()["message"]
        session_id = ai.json()["session_id"]
        assert client.get(f"/session/load/{session_id}").json()["history"][0]["content"] == (
            ACCEPTANCE
        )
        completion = client.post(
            "/v1/chat/completions",
            json={
                "model": "cosmic-works-agent",
                "messages": [{"role": "user", "content": ACCEPTANCE}],
            },
        )
        assert completion.status_code == 200, completion.text
        assert "$1431.50" in completion.json()["choices"][0]["message"]["content"]
        agent = client.post(
            "/agent/invoke",
            json={
                "input": {"messages": [{"type": "human", "content": ACCEPTANCE}]},
                "config": {"configurable": {"thread_id": "langserve-thread"}},
            },
        )
        assert agent.status_code == 200, agent.text
        assert "$1431.50" in agent.json()["output"]["messages"][-1]["content"]

        # Each family keeps its error shape: ours on our routes, the server's on its routes.
        ours = client.post("/ai", json={})
        assert ours.status_code == 422 and ours.json()["error"]["code"] == "invalid_request"
        theirs = client.get(f"/threads/{uuid.uuid4()}")
        assert theirs.status_code == 404 and "detail" in theirs.json()
        # The server's CORS answers Studio's preflights, on its routes and ours.
        for path in ("/threads", "/ai"):
            preflight = client.options(
                path,
                headers={
                    "Origin": "https://smith.langchain.com",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )
            assert preflight.status_code == 200, (path, preflight.text)
            assert preflight.headers["access-control-allow-origin"] in (
                "*",
                "https://smith.langchain.com",
            )
