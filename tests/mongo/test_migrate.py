"""`cosmic-works migrate`: every collection and index up front, idempotent, saver-compatible."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymongo
import pytest
from langgraph.checkpoint.mongodb import MongoDBSaver
from pymongo import monitoring

from app.cli import main
from core.settings import Settings
from graphs.migrate import MigrationError, run_migration
from tests.mongo.conftest import SECRET

CHECKPOINT_KEYS = {"thread_id": 1, "checkpoint_ns": 1, "checkpoint_id": -1}
WRITES_KEYS = {**CHECKPOINT_KEYS, "task_id": 1, "idx": 1}


def _indexes(uri: str, database: str) -> dict[str, dict[tuple[tuple[str, int], ...], Any]]:
    """{collection: {key pattern: index document}} for every collection of `database`."""
    with pymongo.MongoClient(uri) as client:
        db = client[database]
        return {
            name: {
                tuple((k, int(v)) for k, v in dict(index["key"]).items()): index
                for index in db[name].list_indexes()
            }
            for name in db.list_collection_names()
        }


async def test_creates_the_saver_and_session_collections_and_indexes(
    mongo_settings: Settings, mongodb_uri: str
) -> None:
    steps = await run_migration(mongo_settings)

    assert {s.status for s in steps} == {"created"}
    found = _indexes(mongodb_uri, mongo_settings.mongodb_database)
    assert set(found) == {"checkpoints", "checkpoint_writes", "sessions"}
    checkpoint_index = found["checkpoints"][tuple(CHECKPOINT_KEYS.items())]
    writes_index = found["checkpoint_writes"][tuple(WRITES_KEYS.items())]
    assert checkpoint_index["unique"] and writes_index["unique"]
    assert (("owner", 1), ("updated_at", -1)) in found["sessions"]
    assert (("updated_at", -1),) in found["sessions"]
    assert not any("expireAfterSeconds" in i for c in found.values() for i in c.values())


async def test_is_idempotent_and_updates_a_changed_ttl(
    mongo_settings: Settings, mongodb_uri: str
) -> None:
    hour = mongo_settings.model_copy(update={"checkpoint_ttl_s": 3600})
    first = await run_migration(hour)
    again = await run_migration(hour)
    changed = await run_migration(hour.model_copy(update={"checkpoint_ttl_s": 7200}))

    assert {s.status for s in first} == {"created"}
    assert {s.status for s in again} == {"exists"}
    assert [(s.collection, s.what) for s in again] == [(s.collection, s.what) for s in first]
    assert {s.collection for s in changed if s.status == "updated"} == {
        "checkpoints",
        "checkpoint_writes",
        "sessions",
    }
    found = _indexes(mongodb_uri, mongo_settings.mongodb_database)
    assert found["checkpoints"][(("created_at", 1),)]["expireAfterSeconds"] == 7200
    assert found["sessions"][(("last_used", 1),)]["expireAfterSeconds"] == 7200


class _CommandNames(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_after_migrate_the_saver_creates_no_index(
    mongo_settings: Settings, mongodb_uri: str
) -> None:
    """What Cosmos DB needs: the saver only lists the indexes it finds already there."""
    await run_migration(mongo_settings)
    listener = _CommandNames()
    with pymongo.MongoClient(mongodb_uri, event_listeners=[listener]) as client:
        MongoDBSaver(client, mongo_settings.mongodb_database)
    assert "listIndexes" in listener.names
    assert "createIndexes" not in listener.names


async def test_a_refused_unique_index_is_reported_with_its_collection(
    mongo_settings: Settings, mongodb_uri: str
) -> None:
    duplicate = {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c"}
    with pymongo.MongoClient(mongodb_uri) as client:
        client[mongo_settings.mongodb_database]["checkpoints"].insert_many(
            [dict(duplicate), dict(duplicate)]
        )
    with pytest.raises(MigrationError, match="index thread_id_1_checkpoint_ns_1_checkpoint_id_-1"):
        await run_migration(mongo_settings)


async def test_with_the_mongodb_store_the_catalog_is_migrated_too(
    mongo_settings: Settings, mongodb_uri: str
) -> None:
    settings = mongo_settings.model_copy(
        update={"store": "mongodb", "vector_search": "exact", "embeddings": "local"}
    )
    first = await run_migration(settings)
    again = await run_migration(settings)

    catalog = {"products", "customers", "sales"}
    assert catalog <= {s.collection for s in first}
    assert {s.status for s in again} == {"exists"}
    found = _indexes(mongodb_uri, settings.mongodb_database)
    assert catalog | {"checkpoints", "checkpoint_writes", "sessions"} <= set(found)


async def test_nothing_to_migrate_without_mongodb(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, store="sqlite", checkpointer="sqlite")
    with pytest.raises(MigrationError, match="COSMIC_WORKS_STORE=mongodb"):
        await run_migration(settings)


def _cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, uri: str, database: str) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name in ("COSMIC_WORKS_STORE", "DB_CONNECTION_STRING", "COSMIC_WORKS_CHECKPOINT_TTL_S"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COSMIC_WORKS_CHECKPOINTER", "mongodb")
    monkeypatch.setenv("MONGODB_URI", uri)
    monkeypatch.setenv("MONGODB_DATABASE", database)
    monkeypatch.setenv("COSMIC_WORKS_MONGODB_TIMEOUT_S", "0.5")


def test_cli_migrate_prints_each_step_twice_safely(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mongodb_uri: str,
    mongodb_database: str,
) -> None:
    _cli_env(monkeypatch, tmp_path, mongodb_uri, mongodb_database)
    assert main(["migrate"]) == 0
    first = capsys.readouterr().out
    assert main(["migrate"]) == 0
    second = capsys.readouterr().out

    host = mongodb_uri.split("://", 1)[1]
    assert first.startswith(f"MongoDB at {host}, database {mongodb_database}")
    assert "thread_id_1_checkpoint_ns_1_checkpoint_id_-1 (unique)" in first
    assert first.count("created") == 7 and "exists" not in first
    assert second.count("exists") == 7 and "created" not in second


def test_cli_migrate_unreachable_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dead_mongodb_uri: str,
) -> None:
    _cli_env(monkeypatch, tmp_path, dead_mongodb_uri, "cw")
    assert main(["migrate"]) == 1
    captured = capsys.readouterr()
    host = dead_mongodb_uri.split("@", 1)[1].split("/", 1)[0]
    assert captured.err.startswith(f"error: cannot migrate MongoDB at {host}")
    assert captured.err.count("\n") == 1
    assert SECRET not in captured.err + captured.out
