"""MongoDB connection helpers shared by every MongoDB client of the service.

Why one place: each client (checkpointer, session index, catalog store, `migrate`) must
* fail fast when the server is gone, so a request answers 503 in about the configured timeout
  instead of pymongo's 30 s default — unless the connection string sets its own value;
* name the server in its errors (`MongoDB at host:port`) and never the password: messages here
  are built from the host list only, and `redact` scrubs driver text before it is shown.

Nothing here connects or resolves DNS (a `mongodb+srv://` name is reported as given).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, unquote

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase
    from pymongo.database import Database

APP_NAME = "cosmic-works"
MAX_MESSAGE_CHARS = 240
# For clients whose operations are all small (checkpoints, sessions): a server that stops
# answering without closing the connection fails the call after this long.
SOCKET_TIMEOUT_S = 10.0


def _authority(uri: str) -> tuple[str, str]:
    """`(userinfo, hosts)` of a connection string, without the scheme, path or options."""
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in authority:
        userinfo, hosts = authority.rsplit("@", 1)
        return userinfo, hosts
    return "", authority


def mongodb_hosts(uri: str) -> str:
    """The host list of `uri` (`h1:27017,h2:27017` or the SRV name), never the credentials."""
    return _authority(uri)[1] or "localhost"


def describe_mongodb(uri: str) -> str:
    """`MongoDB at <hosts>`: how errors and logs name the server."""
    return f"MongoDB at {mongodb_hosts(uri)}"


def _secrets(uri: str) -> list[str]:
    userinfo = _authority(uri)[0]
    if ":" not in userinfo:
        return []
    password = userinfo.split(":", 1)[1]
    return [s for s in {password, unquote(password)} if s]


def redact(text: str, uri: str) -> str:
    """`text` with the connection string and its password replaced, shortened to one line."""
    clean = text.replace(uri, describe_mongodb(uri))
    for secret in _secrets(uri):
        clean = clean.replace(secret, "***")
    flat = " ".join(clean.split())
    return flat if len(flat) <= MAX_MESSAGE_CHARS else flat[: MAX_MESSAGE_CHARS - 1] + "…"


def summarize_error(exc: BaseException, uri: str) -> str:
    """A short, safe description of a driver error (no topology dump, no password).

    pymongo's server-selection errors append its timeouts and the whole topology description
    after what failed; the server's errors append the full reply. Both are cut.
    """
    text = str(exc) or type(exc).__name__
    for marker in (" (configured timeouts:", ", Timeout:", ", full error:"):
        text = text.split(marker, 1)[0]
    return redact(text, uri)


class RecentOutage:
    """Remembers, for `hold_s` seconds, that the server could not be reached.

    Why: one request touches MongoDB several times (a turn, then the rollback of the failed
    turn, the session index). Once a call has waited out the server-selection timeout, the
    calls that follow within `hold_s` fail at once instead of each waiting again, so the
    client gets its 503 after one timeout. Only real attempts are recorded: the first call
    after `hold_s` tries the server again. Plain attribute writes: safe from the saver's
    worker threads.
    """

    def __init__(self, hold_s: float) -> None:
        self._hold_s = hold_s
        self._until = 0.0
        self._message = ""

    def recent(self) -> str | None:
        """The last connection failure's message while it is recent, else `None`."""
        return self._message if time.monotonic() < self._until else None

    def record(self, exc: BaseException, message: str) -> None:
        """Remember `exc` if it says the server is unreachable (not a refused command)."""
        from pymongo.errors import ConnectionFailure

        if isinstance(exc, ConnectionFailure):
            self._message = message
            self._until = time.monotonic() + self._hold_s


def uri_options(uri: str) -> set[str]:
    """Lower-cased names of the options given in the connection string's query."""
    query = uri.split("?", 1)[1] if "?" in uri else ""
    return {key.lower() for key, _ in parse_qsl(query, keep_blank_values=True)}


def client_kwargs(
    uri: str, timeout_s: float, *, socket_timeout_s: float | None = None
) -> dict[str, Any]:
    """Keyword options for `MongoClient` / `AsyncMongoClient`.

    `serverSelectionTimeoutMS` bounds how long an operation waits for an unreachable server;
    `socket_timeout_s` (for clients whose operations are all small) bounds a read on a
    connection whose server stopped answering without closing it. pymongo lets keyword options
    override the URI's, so an option the URI sets is left alone.
    """
    given = uri_options(uri)
    kwargs: dict[str, Any] = {}
    if "serverselectiontimeoutms" not in given:
        kwargs["serverSelectionTimeoutMS"] = int(timeout_s * 1000)
    if socket_timeout_s is not None and "sockettimeoutms" not in given:
        kwargs["socketTimeoutMS"] = int(socket_timeout_s * 1000)
    if "appname" not in given:
        kwargs["appname"] = APP_NAME
    return kwargs


# --------------------------------------------------------------------------------------------
# Index specifications, shared by the components that own collections and by `migrate`
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index a component needs: `keys` in order, unique or not, TTL seconds or none."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    expire_after_s: int | None = None

    @property
    def name(self) -> str:
        """pymongo's default name (`a_1_b_-1`), the name the library savers would create."""
        return "_".join(f"{field}_{direction}" for field, direction in self.keys)

    def create_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"name": self.name}
        if self.unique:
            kwargs["unique"] = True
        if self.expire_after_s is not None:
            kwargs["expireAfterSeconds"] = self.expire_after_s
        return kwargs


IndexState = Literal["exists", "missing", "ttl_differs"]


def index_state(existing: Sequence[Mapping[str, Any]], spec: IndexSpec) -> IndexState:
    """Compare `spec` with the server's `listIndexes` output, by key pattern (not by name)."""
    wanted = [(field, int(direction)) for field, direction in spec.keys]
    for index in existing:
        keys = [(str(field), int(direction)) for field, direction in dict(index["key"]).items()]
        if keys != wanted:
            continue
        if spec.expire_after_s is not None and index.get("expireAfterSeconds") != (
            spec.expire_after_s
        ):
            return "ttl_differs"
        return "exists"
    return "missing"


def ttl_update_command(spec: IndexSpec) -> dict[str, Any]:
    """`collMod` changing the TTL of an existing index in place (no rebuild)."""
    return {
        "collMod": spec.collection,
        "index": {"keyPattern": dict(spec.keys), "expireAfterSeconds": spec.expire_after_s},
    }


def ensure_index_sync(database: Database[Any], spec: IndexSpec) -> str:
    """Create `spec` if missing (or fix its TTL); returns `created`, `exists` or `updated`."""
    collection = database[spec.collection]
    state = index_state(list(collection.list_indexes()), spec)
    if state == "exists":
        return "exists"
    if state == "ttl_differs":
        database.command(ttl_update_command(spec))
        return "updated"
    collection.create_index(list(spec.keys), **spec.create_kwargs())
    return "created"


async def ensure_index_async(database: AsyncDatabase[Any], spec: IndexSpec) -> str:
    """`ensure_index_sync` for the async client."""
    collection = database[spec.collection]
    cursor = await collection.list_indexes()
    state = index_state(await cursor.to_list(None), spec)
    if state == "exists":
        return "exists"
    if state == "ttl_differs":
        await database.command(ttl_update_command(spec))
        return "updated"
    await collection.create_index(list(spec.keys), **spec.create_kwargs())
    return "created"
