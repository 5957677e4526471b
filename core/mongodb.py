"""MongoDB connection helpers shared by every MongoDB client of the service.

Why one place: each client (checkpointer, session index, catalog store, `migrate`) must
* fail fast when the server is gone, so a request answers 503 in about the configured timeout
  instead of pymongo's 30 s default — unless the connection string sets its own value;
* name the server in its errors (`MongoDB at host:port`) and never the password: messages here
  are built from the host list only, and `redact` scrubs driver text before it is shown.

Nothing here connects or resolves DNS (a `mongodb+srv://` name is reported as given).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase
    from pymongo.database import Database

APP_NAME = "cosmic-works"
MAX_MESSAGE_CHARS = 240
INVALID_URI = "<invalid MongoDB URI>"
# For clients whose operations are all small (checkpoints, sessions): a server that stops
# answering without closing the connection fails the call after this long.
SOCKET_TIMEOUT_S = 10.0
# What pymongo appends after what failed: its timeouts and topology (server selection), the
# server's whole reply (command errors). Cut from every message.
_DRIVER_DUMPS = (" (configured timeouts:", ", Timeout:", ", full error:")


# --------------------------------------------------------------------------------------------
# Connection strings: hosts, secrets, options
# --------------------------------------------------------------------------------------------


def _split_uri(uri: str) -> tuple[str, str, str, str]:
    """`(scheme, userinfo, hosts, rest)` without validating anything or resolving SRV records.

    The query is cut first (Cosmos DB strings carry `appName=@account@`), then the userinfo
    ends at the last `@`, so a password holding `/`, `:` or `@` is still found whole and never
    taken for a host. Without `scheme://` nothing is split: `("", "", "", uri)`.
    """
    scheme, sep, rest = uri.strip().partition("://")
    if not sep:
        return "", "", "", uri
    before_query, qmark, query = rest.partition("?")
    userinfo, at, after = before_query.rpartition("@")
    if not at:
        userinfo, after = "", before_query
    hosts, slash, path = after.partition("/")
    return scheme, userinfo, hosts, slash + path + qmark + query


def mongodb_hosts(uri: str) -> str:
    """The host list of `uri` (`h1:27017,h2:27017` or the SRV name), never the credentials."""
    return _split_uri(uri)[2] or INVALID_URI


def describe_mongodb(uri: str) -> str:
    """`MongoDB at <hosts>`: how errors and logs name the server."""
    return f"MongoDB at {mongodb_hosts(uri)}"


def redact_uri(uri: str) -> str:
    """The URI safe to print: user kept, password masked, query dropped (it may hold tokens)."""
    scheme, userinfo, hosts, rest = _split_uri(uri)
    if not scheme:
        return INVALID_URI
    user = userinfo.partition(":")[0]
    creds = f"{user}:***@" if userinfo else ""
    database = rest.partition("?")[0].strip("/")
    return f"{scheme}://{creds}{hosts}" + (f"/{database}" if database else "")


def _secrets(uri: str) -> list[str]:
    """The password as written and percent-decoded, longest first (no partial leak)."""
    password = _split_uri(uri)[1].partition(":")[2]
    return sorted({s for s in (password, unquote(password)) if s}, key=len, reverse=True)


def redact(text: str, uri: str) -> str:
    """`text` with the connection string and its password replaced, shortened to one line."""
    clean = text
    for written in dict.fromkeys((uri, uri.strip())):
        if written:
            clean = clean.replace(written, describe_mongodb(uri))
    for secret in _secrets(uri):
        clean = clean.replace(secret, "***")
    flat = " ".join(clean.split())
    return flat if len(flat) <= MAX_MESSAGE_CHARS else flat[: MAX_MESSAGE_CHARS - 1] + "…"


def _driver_text(exc: BaseException) -> str:
    """What the driver says, without the dumps it appends (topology, full reply, documents)."""
    from pymongo.errors import BulkWriteError, OperationFailure

    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or [{}]
        text = str(errors[0].get("errmsg") or "bulk write failed")
    elif isinstance(exc, OperationFailure):
        text = str((exc.details or {}).get("errmsg") or exc)
    else:
        text = str(exc)
    for marker in _DRIVER_DUMPS:
        text = text.split(marker, 1)[0]
    return text or type(exc).__name__


def summarize_error(exc: BaseException, uri: str) -> str:
    """A short, safe description of a driver error (no topology dump, no password)."""
    return redact(_driver_text(exc), uri)


def describe_error(exc: BaseException, uri: str) -> str:
    """One line about a pymongo error, naming MongoDB and the host, with no secret in it."""
    from pymongo.errors import ConfigurationError, ConnectionFailure

    text, where = summarize_error(exc, uri), describe_mongodb(uri)
    if isinstance(exc, ConnectionFailure):  # includes server selection timeouts
        return f"{where} is unreachable: {text}"
    if isinstance(exc, ConfigurationError | ValueError):
        return f"{where}: {text}; check MONGODB_URI"
    return f"{where}: {type(exc).__name__}: {text}"


def uri_options(uri: str) -> set[str]:
    """Lower-cased names of the options given in the connection string's query."""
    query = _split_uri(uri)[3].partition("?")[2]
    # pymongo takes `&` or `;` between options.
    return {unquote(part.partition("=")[0]).lower() for part in re.split("[&;]", query) if part}


def client_kwargs(
    uri: str,
    timeout_s: float,
    *,
    socket_timeout_s: float | None = None,
    connect_timeout_s: float | None = None,
    app_name: str = APP_NAME,
) -> dict[str, Any]:
    """Keyword options for `MongoClient` / `AsyncMongoClient`.

    `serverSelectionTimeoutMS` bounds how long an operation waits for an unreachable server;
    `connect_timeout_s` bounds opening a connection; `socket_timeout_s` bounds a read on a
    connection whose server stopped answering without closing it. pymongo lets keyword options
    override the URI's, so an option the URI sets is left alone.
    """
    wanted: dict[str, Any] = {"serverSelectionTimeoutMS": int(timeout_s * 1000)}
    if connect_timeout_s is not None:
        wanted["connectTimeoutMS"] = int(connect_timeout_s * 1000)
    if socket_timeout_s is not None:
        wanted["socketTimeoutMS"] = int(socket_timeout_s * 1000)
    wanted["appname"] = app_name
    given = uri_options(uri)
    return {name: value for name, value in wanted.items() if name.lower() not in given}


class RecentOutage:
    """Remembers, for `hold_s` seconds, that the server could not be reached.

    Why: one request touches MongoDB several times (a turn, then the rollback of the failed
    turn, the session index). Once a call has waited out the server-selection timeout, the
    calls that follow within `hold_s` fail at once instead of each waiting again, so the
    client gets its 503 after one timeout. Only real attempts are recorded: the first call
    after `hold_s` tries the server again. Plain attribute writes: safe from the saver's
    worker threads.
    """

    MAX_HOLD_S = 0.5
    """A failed turn's rollback follows within milliseconds, so half a second covers one
    request; holding longer would refuse the first requests after the server is back."""

    def __init__(self, hold_s: float) -> None:
        self._hold_s = min(hold_s, self.MAX_HOLD_S)
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
