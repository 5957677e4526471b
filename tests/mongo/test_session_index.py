"""The session index: one suite for every implementation (memory, SQLite, MongoDB)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.settings import Settings
from graphs.sessions import (
    MemorySessionIndex,
    SessionIndex,
    SessionIndexError,
    open_mongo_session_index,
    open_sqlite_session_index,
)
from tests.mongo.conftest import SECRET

TICK_S = 0.01  # successive turns get distinct timestamps on any clock


@pytest.fixture(params=["memory", "sqlite", "mongodb"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionIndex]:
    if request.param == "memory":
        yield MemorySessionIndex()
    elif request.param == "sqlite":
        async with open_sqlite_session_index(tmp_path / "sessions.sqlite") as sqlite_index:
            yield sqlite_index
    else:
        settings = request.getfixturevalue("mongo_settings")
        async with open_mongo_session_index(settings) as mongo_index:
            yield mongo_index


async def test_first_turn_titles_the_session_and_later_turns_keep_it(index: SessionIndex) -> None:
    await index.record_turn("s1", "  What was the price of\nFR-R92B-58?  ", "alice")
    first = await index.get("s1")
    await asyncio.sleep(TICK_S)
    await index.record_turn("s1", "and its category?", "bob")
    later = await index.get("s1")

    assert first is not None and later is not None
    assert later.title == "What was the price of FR-R92B-58?"
    assert later.owner == "alice"  # the first turn's owner, like the title
    assert later.created_at == first.created_at
    assert later.updated_at > first.updated_at


async def test_long_titles_are_shortened_and_empty_ones_named(index: SessionIndex) -> None:
    await index.record_turn("long", "word " * 40)
    await index.record_turn("empty", "   ")
    long, empty = await index.get("long"), await index.get("empty")
    assert long is not None and long.title.endswith("…") and len(long.title) <= 60
    assert empty is not None and empty.title == "New chat"


async def test_list_is_newest_first_with_owner_filter_and_limit(index: SessionIndex) -> None:
    for session_id, owner in (("a", "alice"), ("b", "bob"), ("c", "alice")):
        await index.record_turn(session_id, f"question {session_id}", owner)
        await asyncio.sleep(TICK_S)
    await index.record_turn("a", "a follow-up", "alice")  # "a" becomes the newest

    assert [s.session_id for s in await index.list()] == ["a", "c", "b"]
    assert [s.session_id for s in await index.list(owner="alice")] == ["a", "c"]
    assert [s.session_id for s in await index.list(owner="carol")] == []
    assert [s.session_id for s in await index.list(limit=2)] == ["a", "c"]


async def test_delete(index: SessionIndex) -> None:
    await index.record_turn("s1", "hello")
    await index.record_turn("s2", "hello again")

    assert await index.delete("s1") is True
    assert await index.delete("s1") is False
    assert await index.get("s1") is None
    assert [s.session_id for s in await index.list()] == ["s2"]


async def test_unknown_session_and_ping(index: SessionIndex) -> None:
    assert await index.get("nope") is None
    await index.ping()


async def test_concurrent_first_turns_make_one_session(index: SessionIndex) -> None:
    await asyncio.gather(*(index.record_turn("race", f"q{i}", "alice") for i in range(8)))
    sessions = await index.list()
    assert [s.session_id for s in sessions] == ["race"]
    assert sessions[0].title.startswith("q")


# --- MongoDB specifics ------------------------------------------------------------------------


async def test_mongodb_index_has_its_indexes_and_an_optional_ttl(
    mongo_settings: Settings,
) -> None:
    settings = mongo_settings.model_copy(update={"checkpoint_ttl_s": 3600})
    async with open_mongo_session_index(settings) as index:
        await index.record_turn("s1", "hello")
        collection = index._collection
        indexes = await (await collection.list_indexes()).to_list(None)
        document = await collection.find_one({"_id": "s1"})
    keys = {tuple(dict(i["key"]).items()): i.get("expireAfterSeconds") for i in indexes}
    assert keys[(("owner", 1), ("updated_at", -1))] is None
    assert keys[(("updated_at", -1),)] is None
    assert keys[(("last_used", 1),)] == 3600
    assert document is not None and document["last_used"] is not None


async def test_mongodb_unreachable_names_the_host_never_the_password(
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
    with pytest.raises(SessionIndexError) as caught:
        async with open_mongo_session_index(settings):
            pass
    message = str(caught.value)
    assert f"MongoDB at {host}" in message
    assert SECRET not in message and "cosmic:" not in message
