"""Real service processes on one MongoDB database: stateless replicas, and a database that is
not there at startup."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.mongo.conftest import SECRET
from tests.server_process import free_port, server_env, uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"


def _empty_dir(tmp_path: Path, name: str) -> Path:
    data_dir = tmp_path / name
    data_dir.mkdir()
    return data_dir


def test_two_replicas_share_conversations(
    tmp_path: Path, mongodb_uri: str, mongo_catalog_database: str
) -> None:
    """Nothing is local: catalog, checkpoints and sessions are all in one MongoDB database."""
    env = {
        "COSMIC_WORKS_STORE": "mongodb",
        "COSMIC_WORKS_VECTOR_SEARCH": "exact",
        "COSMIC_WORKS_CHECKPOINTER": "mongodb",
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": mongo_catalog_database,
    }
    with (
        uvicorn_server(_empty_dir(tmp_path, "a"), env=env) as url_a,
        uvicorn_server(_empty_dir(tmp_path, "b"), env=env) as url_b,
        httpx.Client(base_url=url_a, timeout=60) as a,
        httpx.Client(base_url=url_b, timeout=60) as b,
    ):
        first = a.post("/ai", json={"session_id": "1234", "prompt": ACCEPTANCE}).json()
        assert "$1431.50" in first["message"]
        session_id = first["session_id"]

        # Each follow-up only makes sense with the earlier turns, served by the other process.
        second = b.post(
            "/ai", json={"session_id": session_id, "prompt": "What category is it in?"}
        ).json()
        assert "Components, Road Frames" in second["message"]
        third = a.post("/ai", json={"session_id": session_id, "prompt": "what is its sku?"}).json()
        assert "FR-R92B-58" in third["message"]

        for client in (a, b):
            listed = client.get("/session/list").json()
            assert [s["session_id"] for s in listed] == [session_id]
            assert listed[0]["title"].startswith("What was the price")
            history = client.get(f"/session/load/{session_id}").json()["history"]
            assert [h["content"] for h in history[1::2]] == [
                first["message"],
                second["message"],
                third["message"],
            ]

        assert b.delete(f"/session/{session_id}").status_code == 204
        assert a.get(f"/session/load/{session_id}").status_code == 404
        assert a.get("/session/list").json() == []


@pytest.mark.parametrize("store", ["sqlite", "mongodb"])
def test_database_down_at_startup_exits_naming_mongodb_and_the_host(
    tmp_path: Path, sample_store_path: Path, dead_mongodb_uri: str, store: str
) -> None:
    data_dir = _empty_dir(tmp_path, "data")
    if store == "sqlite":  # only the conversations are on MongoDB
        shutil.copy(sample_store_path, data_dir / "catalog.sqlite")
    env = server_env(
        data_dir,
        COSMIC_WORKS_STORE=store,
        COSMIC_WORKS_CHECKPOINTER="mongodb",
        MONGODB_URI=dead_mongodb_uri,
        COSMIC_WORKS_MONGODB_TIMEOUT_S="1",
    )
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=data_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    host = dead_mongodb_uri.split("@", 1)[1].split("/", 1)[0]
    assert result.returncode != 0, output
    assert "Application startup failed" in output
    assert f"MongoDB at {host}" in output
    if store == "sqlite":
        assert f"cannot open the checkpointer on MongoDB at {host}" in output
    assert SECRET not in output
