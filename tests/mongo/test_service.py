"""The HTTP service on MongoDB only (catalog in `exact` mode, checkpoints, sessions), in-process.

The catalog is a per-test copy of the sample (see `mongo_catalog_database`); nothing is local.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pymongo
import pytest
from fastapi import FastAPI

from core.settings import Settings
from tests.mongo.conftest import copy_database
from tests.mongo_server import secantus_server
from tests.server_process import free_port

pytestmark = pytest.mark.timeout(900)  # a fresh machine builds the sample catalog first

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"


def service_settings(data_dir: Path, uri: str, database: str) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        model="offline",
        embeddings="local",
        store="mongodb",
        vector_search="exact",
        mongodb_uri=uri,
        mongodb_database=database,
    )


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process client."""
    from app.main import create_app

    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_ai_answers_and_sessions_live_in_mongodb(
    tmp_path: Path, mongodb_uri: str, mongo_catalog_database: str
) -> None:
    settings = service_settings(tmp_path, mongodb_uri, mongo_catalog_database)
    async with serve(settings) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text

        first = (await client.post("/ai", json={"session_id": "1234", "prompt": ACCEPTANCE})).json()
        assert "$1431.50" in first["message"]
        session_id = first["session_id"]
        follow = await client.post(
            "/ai", json={"session_id": session_id, "prompt": "What category is it in?"}
        )
        assert "Components, Road Frames" in follow.json()["message"]

        listed = (await client.get("/session/list")).json()
        assert [s["session_id"] for s in listed] == [session_id]
        assert listed[0]["title"].startswith("What was the price")
        loaded = (await client.get(f"/session/load/{session_id}")).json()
        assert [h["role"] for h in loaded["history"]] == ["user", "assistant"] * 2
        assert loaded["history"][1]["content"] == first["message"]

        assert (await client.delete(f"/session/{session_id}")).status_code == 204
        assert (await client.get(f"/session/load/{session_id}")).status_code == 404
        assert (await client.get("/session/list")).json() == []

    with pymongo.MongoClient(mongodb_uri) as mongo:
        database = mongo[mongo_catalog_database]
        assert database["checkpoints"].count_documents({"thread_id": session_id}) == 0
        assert database["checkpoint_writes"].count_documents({"thread_id": session_id}) == 0
        assert database["sessions"].count_documents({}) == 0


async def test_database_down_mid_run_is_a_quick_503_then_recovers(
    tmp_path: Path, mongodb_uri: str, mongo_sample_template: str
) -> None:
    storage, port = tmp_path / "mongo", free_port()
    host = f"127.0.0.1:{port}"
    with ExitStack() as database:
        uri = database.enter_context(secantus_server(storage, port=port))
        copy_database(mongodb_uri, mongo_sample_template, uri, "cw_outage")
        settings = service_settings(tmp_path, uri, "cw_outage")
        async with serve(settings) as client:
            first = await client.post("/ai", json={"prompt": ACCEPTANCE})
            session_id = first.json()["session_id"]
            database.close()  # the database goes away under the running service

            started = time.monotonic()
            down = await client.post("/ai", json={"session_id": session_id, "prompt": "and?"})
            elapsed = time.monotonic() - started
            assert down.status_code == 503, down.text
            error = down.json()["error"]
            assert error["code"] in {"checkpointer_unavailable", "store_unavailable"}
            assert f"MongoDB at {host}" in error["message"]
            assert elapsed < settings.mongodb_timeout_s + 1.0

            # A new session reaches the checkpointer first; its rollback does not wait again.
            started = time.monotonic()
            fresh = await client.post("/ai", json={"prompt": ACCEPTANCE})
            assert fresh.status_code == 503, fresh.text
            assert fresh.json()["error"]["code"] == "checkpointer_unavailable"
            assert time.monotonic() - started < settings.mongodb_timeout_s + 1.0

            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            checks = not_ready.json()["checks"]
            for name in ("checkpointer", "sessions"):
                assert f"MongoDB at {host}" in checks[name]["message"]
            listing = await client.get("/session/list")
            assert listing.status_code == 503

            with secantus_server(storage, port=port):  # back on the same storage and port
                again = await client.post(
                    "/ai", json={"session_id": session_id, "prompt": "What category is it in?"}
                )
                assert again.status_code == 200, again.text
                assert "Components, Road Frames" in again.json()["message"]
                loaded = (await client.get(f"/session/load/{session_id}")).json()
                assert [h["role"] for h in loaded["history"]] == ["user", "assistant"] * 2
                assert (await client.get("/readyz")).status_code == 200
