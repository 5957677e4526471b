"""`core.mongodb`: servers are named by host, passwords never shown, timeouts fail fast."""

from __future__ import annotations

import pytest
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from core.mongodb import (
    IndexSpec,
    client_kwargs,
    describe_error,
    describe_mongodb,
    index_state,
    mongodb_hosts,
    redact,
    redact_uri,
    summarize_error,
    uri_options,
)

PASSWORD = "s3cr/et:p@ss"
QUOTED = "s3cr%2Fet%3Ap%40ss"
COSMOS_KEY = "k3y/with+slash=="


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
        ("mongodb://user:pa/ss@host:1/db", "host:1"),  # an unescaped / in the password
        ("mongodb://user:p/a@s@host:1/?w=1", "host:1"),  # `/` and `@` in the password
        (
            f"mongodb://acct:{COSMOS_KEY}@acct.mongo.cosmos.azure.com:10255/",
            "acct.mongo.cosmos.azure.com:10255",
        ),
        ("not a uri", "<invalid MongoDB URI>"),
        ("user:pa/ss@host:1", "<invalid MongoDB URI>"),  # no scheme: nothing is split out
        ("", "<invalid MongoDB URI>"),
    ],
)
def test_hosts_never_include_credentials(uri: str, hosts: str) -> None:
    assert mongodb_hosts(uri) == hosts
    assert describe_mongodb(uri) == f"MongoDB at {hosts}"


@pytest.mark.parametrize(
    ("uri", "redacted", "hosts"),
    [
        ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017", "127.0.0.1:27017"),
        (
            f"mongodb://app:{QUOTED}@db1:27017,db2:27018/shop?replicaSet=rs0&authSource=admin",
            "mongodb://app:***@db1:27017,db2:27018/shop",
            "db1:27017,db2:27018",
        ),
        (
            # Azure Cosmos DB (RU) style: `@` in the query, base64 key with `/` and `=`.
            f"mongodb://acct:{COSMOS_KEY}@acct.mongo.cosmos.azure.com:10255/?ssl=true"
            "&replicaSet=globaldb&appName=@acct@",
            "mongodb://acct:***@acct.mongo.cosmos.azure.com:10255",
            "acct.mongo.cosmos.azure.com:10255",
        ),
        (
            f"mongodb+srv://user:{QUOTED}@cluster0.mongocluster.cosmos.azure.com/?tls=true"
            "&authMechanism=SCRAM-SHA-256",
            "mongodb+srv://user:***@cluster0.mongocluster.cosmos.azure.com",
            "cluster0.mongocluster.cosmos.azure.com",
        ),
        (f"mongodb://app:{PASSWORD}@h:1/db", "mongodb://app:***@h:1/db", "h:1"),
        ("not a uri", "<invalid MongoDB URI>", "<invalid MongoDB URI>"),
    ],
)
def test_redact_uri_and_hosts(uri: str, redacted: str, hosts: str) -> None:
    assert redact_uri(uri) == redacted
    assert mongodb_hosts(uri) == hosts
    for secret in (QUOTED, PASSWORD, COSMOS_KEY):
        assert secret not in redacted


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


def test_describe_error_names_host_never_password() -> None:
    uri = f"mongodb://app:{QUOTED}@db.example.net:27017/?authSource=admin"
    timeout = ServerSelectionTimeoutError(
        f"db.example.net:27017: [Errno 111] Connection refused (configured timeouts: "
        f"socketTimeoutMS: 20000.0ms), Timeout: 2.0s, Topology Description: <{uri}>"
    )
    assert describe_error(timeout, uri) == (
        "MongoDB at db.example.net:27017 is unreachable: db.example.net:27017: "
        "[Errno 111] Connection refused"
    )
    leaky = OperationFailure(f"auth failed for {uri} with password {PASSWORD} / {QUOTED}")
    text = describe_error(leaky, uri)
    assert text.startswith("MongoDB at db.example.net:27017: OperationFailure: ")
    assert PASSWORD not in text and QUOTED not in text and "***" in text
    bad = ConfigurationError(f"bad option in {uri}")
    text = describe_error(bad, uri)
    assert text.endswith("; check MONGODB_URI") and "s3cr" not in text


@pytest.mark.parametrize(
    ("uri", "password", "hosts"),
    [
        (
            f"mongodb://acct:{COSMOS_KEY}@acct.mongo.cosmos.azure.com:10255/?appName=@acct@",
            COSMOS_KEY,
            "acct.mongo.cosmos.azure.com:10255",
        ),
        ("mongodb://user:pa55/w0rd@host:1/db", "pa55/w0rd", "host:1"),
        ("mongodb://user:pa55@w0rd/x@host:1/db", "pa55@w0rd/x", "host:1"),
    ],
)
def test_a_password_with_slash_or_at_never_leaks(uri: str, password: str, hosts: str) -> None:
    # Cutting the authority at the first `/` showed `user:pa55` (or `acct:k3y`) as the host.
    assert mongodb_hosts(uri) == hosts
    error = OperationFailure(f"auth failed for {uri}; password {password}")
    for text in (describe_mongodb(uri), redact_uri(uri), describe_error(error, uri)):
        assert password not in text
        assert password.split("/")[0].split("@")[0] not in text


def test_bulk_write_errors_show_the_first_write_error_only() -> None:
    error = BulkWriteError(
        {"writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"}]}
    )
    assert describe_error(error, "mongodb://h:1") == (
        "MongoDB at h:1: BulkWriteError: E11000 duplicate key"
    )


def test_client_kwargs_leave_the_uri_options_alone() -> None:
    assert client_kwargs("mongodb://h", 2.0) == {
        "serverSelectionTimeoutMS": 2000,
        "appname": "cosmic-works",
    }
    assert client_kwargs("mongodb://h/?serverSelectionTimeoutMS=9000&appName=mine", 2.0) == {}
    assert client_kwargs(
        "mongodb://h", 2.0, socket_timeout_s=30.0, connect_timeout_s=2.0, app_name="x"
    ) == {
        "serverSelectionTimeoutMS": 2000,
        "connectTimeoutMS": 2000,
        "socketTimeoutMS": 30000,
        "appname": "x",
    }
    assert "socketTimeoutMS" not in client_kwargs(
        "mongodb://h/?socketTimeoutMS=1", 2.0, socket_timeout_s=10.0
    )


def test_uri_options_read_the_query_only() -> None:
    assert uri_options("mongodb://u:p/w@h/?appName=@a@&w=1") == {"appname", "w"}
    assert uri_options("mongodb://h/?ssl=true;replicaSet=rs0") == {"ssl", "replicaset"}
    assert uri_options("mongodb://h") == set()


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
