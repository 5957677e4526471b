"""`core.mongodb`: servers are named by host, passwords never shown, timeouts fail fast."""

from __future__ import annotations

import pytest

from core.mongodb import (
    IndexSpec,
    client_kwargs,
    describe_mongodb,
    index_state,
    mongodb_hosts,
    redact,
    summarize_error,
)


@pytest.mark.parametrize(
    ("uri", "hosts"),
    [
        ("mongodb://127.0.0.1:27017", "127.0.0.1:27017"),
        ("mongodb://u:p%40ss@h1:1,h2:2/db?replicaSet=rs0", "h1:1,h2:2"),
        (
            "mongodb+srv://app:pw@cluster0.abcde.mongodb.net/?retryWrites=true",
            "cluster0.abcde.mongodb.net",
        ),
        (
            "mongodb+srv://admin:pw@my-cluster.mongocluster.cosmos.azure.com/?tls=true",
            "my-cluster.mongocluster.cosmos.azure.com",
        ),
        ("mongodb://user:p@ss@host:1/", "host:1"),  # an unescaped @ in the password
    ],
)
def test_hosts_never_include_credentials(uri: str, hosts: str) -> None:
    assert mongodb_hosts(uri) == hosts
    assert describe_mongodb(uri) == f"MongoDB at {hosts}"


def test_redact_removes_the_uri_and_the_password_in_both_spellings() -> None:
    uri = "mongodb://app:p%40ss w0rd@db.example:27017/?authSource=admin"
    text = f"failed on {uri} with p%40ss w0rd and p@ss w0rd\n  second line"
    clean = redact(text, uri)
    assert "p%40ss" not in clean and "p@ss" not in clean
    assert "MongoDB at db.example:27017" in clean
    assert "\n" not in clean


def test_summarize_cuts_the_topology_dump() -> None:
    class FakeSelectionError(Exception):
        pass

    error = FakeSelectionError(
        "h:1: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 20000.0ms)"
        ", Timeout: 2.0s, Topology Description: <TopologyDescription ...>"
    )
    assert summarize_error(error, "mongodb://h:1") == "h:1: [Errno 111] Connection refused"


def test_client_kwargs_leave_the_uri_options_alone() -> None:
    assert client_kwargs("mongodb://h", 2.0) == {
        "serverSelectionTimeoutMS": 2000,
        "appname": "cosmic-works",
    }
    assert client_kwargs("mongodb://h/?serverSelectionTimeoutMS=9000&appName=mine", 2.0) == {}


def test_index_state_compares_key_patterns_and_ttl() -> None:
    spec = IndexSpec("c", (("a", 1), ("b", -1)), unique=True)
    ttl = IndexSpec("c", (("created_at", 1),), expire_after_s=60)
    existing = [
        {"key": {"_id": 1}, "name": "_id_"},
        {"key": {"a": 1.0, "b": -1.0}, "name": "custom_name", "unique": True},
        {"key": {"created_at": 1}, "name": "created_at_1", "expireAfterSeconds": 30},
    ]
    assert index_state(existing, spec) == "exists"  # by keys, whatever the name or number type
    assert index_state(existing, ttl) == "ttl_differs"
    assert index_state(existing[:1], spec) == "missing"
    assert spec.name == "a_1_b_-1"
