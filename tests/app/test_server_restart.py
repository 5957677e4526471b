"""The fresh-machine path on a real socket: `uvicorn app:app` over an empty data dir loads the
sample, answers the acceptance question, remembers the session, and still has it after a
restart (the issue's manual check, automated)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.server_process import uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ACCEPTANCE = "What was the price of the product with sku `FR-R92B-58`?"


def test_fresh_start_answers_remembers_and_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with (
        uvicorn_server(data_dir, app=("app:app",)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.get("/").json() == {"status": "ready"}
        assert client.get("/readyz").status_code == 200
        first = client.post("/ai", json={"session_id": "1234", "prompt": ACCEPTANCE}).json()
        assert "$1431.50" in first["message"]
        session_id = first["session_id"]
        assert session_id != "1234"
        follow = client.post(
            "/ai", json={"session_id": session_id, "prompt": "What category is it in?"}
        ).json()
        assert follow["session_id"] == session_id
        assert "Components, Road Frames" in follow["message"]
    assert (data_dir / "catalog.sqlite").is_file()

    with (
        uvicorn_server(data_dir, app=("app:app",)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        sessions = client.get("/session/list").json()
        assert [s["session_id"] for s in sessions] == [session_id]
        assert sessions[0]["title"].startswith("What was the price")
        loaded = client.get(f"/session/load/{session_id}").json()
        assert [h["role"] for h in loaded["history"]] == ["user", "assistant"] * 2
        assert loaded["history"][1]["content"] == first["message"]
        third = client.post(
            "/ai", json={"session_id": session_id, "prompt": "and its price?"}
        ).json()
        assert "$1431.50" in third["message"]
