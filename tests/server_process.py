"""A real uvicorn serving the app in a subprocess on a free loopback port, for socket tests.

The environment is scrubbed of model, store and key variables from the developer's shell, and
the working directory is the data dir, so no `.env` of the checkout is read.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 180.0
DEFAULT_APP = ("--factory", "app.main:create_app")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COSMIC_WORKS_", "AZURE_OPENAI_", "OPENAI_", "AOAI_", "MONGODB_"))
        and key != "DB_CONNECTION_STRING"
    }
    env.update(
        {
            "COSMIC_WORKS_DATA_DIR": str(data_dir),
            "COSMIC_WORKS_MODEL": "offline",
            "COSMIC_WORKS_EMBEDDINGS": "local",
            "COSMIC_WORKS_STORE": "sqlite",
            "COSMIC_WORKS_CHECKPOINTER": "sqlite",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            **extra,
        }
    )
    return env


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"uvicorn not healthy after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@contextmanager
def uvicorn_server(
    data_dir: Path,
    app: Sequence[str] = DEFAULT_APP,
    *,
    stop_signal: int = signal.SIGTERM,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Serve the app over `data_dir`; yields the base URL; stops the process on exit.

    `env` adds or overrides variables of the scrubbed environment (e.g. MongoDB settings).
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = data_dir / f"uvicorn-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=data_dir,
            env=server_env(data_dir, **(env or {})),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_healthy(base_url, process, log)
        yield base_url
    finally:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
