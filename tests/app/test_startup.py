"""A failed startup is reported to the server in one line when the reason is a known one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from core.settings import Settings


async def _startup_messages(app: Any) -> list[dict[str, Any]]:
    """Drive the ASGI lifespan protocol as a server does (startup, then shutdown once the
    startup is answered); the messages the app sent."""
    sent: list[dict[str, Any]] = []
    answered = asyncio.Event()
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        event = next(events)
        if event["type"] == "lifespan.shutdown":
            await answered.wait()
        return event

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"].startswith("lifespan.startup."):
            answered.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    try:
        await asyncio.wait_for(app(scope, receive, send), timeout=60)
    except Exception:
        pass  # starlette re-raises after reporting a failed startup, as uvicorn expects
    return sent


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", embeddings="local", **values)


async def test_known_startup_error_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, model="azure_openai", store="sqlite"))
    sent = await _startup_messages(app)
    failed = [m for m in sent if m["type"] == "lifespan.startup.failed"]
    assert len(failed) == 1, sent
    message = failed[0]["message"]
    assert message.startswith("startup failed: ")
    assert "AZURE_OPENAI_ENDPOINT" in message
    assert "Traceback" not in message and "\n" not in message


async def test_unreachable_mongodb_names_the_host_never_the_password(tmp_path: Path) -> None:
    from tests.server_process import free_port

    uri = f"mongodb://user:s3cret-pw@127.0.0.1:{free_port()}/"
    app = create_app(_settings(tmp_path, store="mongodb", mongodb_uri=uri, mongodb_timeout_s=0.5))
    message = next(
        m["message"] for m in await _startup_messages(app) if m["type"] == "lifespan.startup.failed"
    )
    assert message.startswith("startup failed: ") and "MongoDB" in message
    assert "127.0.0.1" in message
    assert "s3cret-pw" not in message and "Traceback" not in message


async def test_unexpected_startup_error_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools

    def broken_tools(store: Any) -> Any:
        raise RuntimeError("a bug in the tool factory")

    monkeypatch.setattr(tools, "build_tools", broken_tools)
    app = create_app(_settings(tmp_path, model="offline"))
    message = next(
        m["message"] for m in await _startup_messages(app) if m["type"] == "lifespan.startup.failed"
    )
    assert "Traceback" in message and "a bug in the tool factory" in message


async def test_a_good_startup_is_unchanged(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, model="offline"))
    sent = await _startup_messages(app)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("COSMIC_WORKS_MODEL", "bogus", "invalid setting COSMIC_WORKS_MODEL"),
        ("COSMIC_WORKS_API_KEYS", "alice:tooshort-secret", "invalid setting COSMIC_WORKS_API_KEYS"),
    ],
)
def test_uvicorn_app_import_with_a_bad_setting_is_one_line(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    """`uvicorn app:app` (the image's CMD) imports `app.app`: a bad environment must not be
    an import traceback, and the value (maybe a key) is never echoed."""
    import subprocess
    import sys

    from tests.server_process import ROOT

    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "COSMIC_WORKS_DATA_DIR": str(tmp_path / "data"),
        variable: value,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import app; app.app"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {named}:"), result.stderr
    assert value not in result.stderr and "Traceback" not in result.stderr
