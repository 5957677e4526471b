"""MongoDB checkpointer specifics: thread pool, TTL, and errors that name the host only.

The conformance tests (memory per thread, reopening, delete) run on every backend in
tests/graphs/test_graph.py.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from core.settings import Settings
from graphs.checkpointer import CheckpointerError, open_checkpointer
from graphs.graph import build_graph
from graphs.mongo_checkpointer import CHECKPOINT_WRITES, CHECKPOINTS
from tests.fakes import ScriptedChatModel, echo_responder
from tests.mongo.conftest import SECRET
from tests.mongo_server import secantus_server
from tests.server_process import free_port


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


async def _one_turn(saver: Any, thread: str = "t1") -> None:
    graph = build_graph(ScriptedChatModel(responder=echo_responder()), [], saver)
    await graph.ainvoke({"messages": [HumanMessage("hello")]}, _config(thread))


async def test_async_calls_run_the_sync_saver_in_worker_threads(mongo_settings: Settings) -> None:
    threads: list[int] = []
    async with open_checkpointer(mongo_settings) as saver:
        sync_get = saver.get_tuple

        def spy(config: Any) -> Any:
            threads.append(threading.get_ident())
            return sync_get(config)

        saver.get_tuple = spy  # type: ignore[method-assign]
        await _one_turn(saver)
        assert await saver.aget_tuple(_config("t1")) is not None
    assert threads and threading.get_ident() not in threads


def _ttl_indexes(saver: Any) -> dict[str, Any]:
    found = {}
    for name in (CHECKPOINTS, CHECKPOINT_WRITES):
        for index in saver.db[name].list_indexes():
            if dict(index["key"]) == {"created_at": 1}:
                found[name] = index.get("expireAfterSeconds")
    return found


async def test_ttl_stamps_documents_and_is_updated_in_place(mongo_settings: Settings) -> None:
    async with open_checkpointer(mongo_settings) as saver:  # no TTL: nothing expires
        await _one_turn(saver, "forever")
        assert _ttl_indexes(saver) == {}
        assert "created_at" not in saver.checkpoint_collection.find_one({"thread_id": "forever"})

    hour = mongo_settings.model_copy(update={"checkpoint_ttl_s": 3600})
    async with open_checkpointer(hour) as saver:
        await _one_turn(saver, "expiring")
        assert _ttl_indexes(saver) == {CHECKPOINTS: 3600, CHECKPOINT_WRITES: 3600}
        document = saver.checkpoint_collection.find_one({"thread_id": "expiring"})
        assert document is not None and document["created_at"] is not None
        assert saver.writes_collection.find_one(
            {"thread_id": "expiring", "created_at": {"$ne": None}}
        )

    day = mongo_settings.model_copy(update={"checkpoint_ttl_s": 86400})
    async with open_checkpointer(day) as saver:
        assert _ttl_indexes(saver) == {CHECKPOINTS: 86400, CHECKPOINT_WRITES: 86400}


async def test_unreachable_at_open_names_the_host_never_the_password(
    tmp_path: Path, dead_mongodb_uri: str
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        checkpointer="mongodb",
        mongodb_uri=dead_mongodb_uri,
        mongodb_timeout_s=0.5,
    )
    host = dead_mongodb_uri.split("@", 1)[1].split("/", 1)[0]
    started = time.monotonic()
    with pytest.raises(CheckpointerError) as caught:
        async with open_checkpointer(settings):
            pass
    assert time.monotonic() - started < 5
    assert f"MongoDB at {host}" in str(caught.value)
    assert SECRET not in str(caught.value)


async def test_server_gone_mid_run_is_a_checkpointer_error_then_recovers(tmp_path: Path) -> None:
    storage, port = tmp_path / "db", free_port()
    with ExitStack() as database:
        uri = database.enter_context(secantus_server(storage, port=port))
        settings = Settings(
            _env_file=None, data_dir=tmp_path, checkpointer="mongodb", mongodb_uri=uri
        )
        async with open_checkpointer(settings) as saver:
            await _one_turn(saver)
            database.close()  # the database stops under the open saver

            started = time.monotonic()
            with pytest.raises(CheckpointerError, match=f"MongoDB at 127.0.0.1:{port}"):
                await saver.aget_tuple(_config("t1"))
            assert time.monotonic() - started < settings.mongodb_timeout_s + 1.5

            with secantus_server(storage, port=port):  # back on the same storage and port
                restored = await saver.aget_tuple(_config("t1"))
                assert restored is not None  # the thread survived, the saver reconnected
