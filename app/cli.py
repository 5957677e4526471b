"""The `cosmic-works` command line: one subcommand per entry of `COMMANDS`.

To add a subcommand (`serve`, `ask`), add a `Command` to `COMMANDS`: its `configure` adds the
arguments, its `run` returns the exit code. Errors the user can fix print one line, no traceback.
Exit codes: 0 success, 1 fatal error, 2 partial success (e.g. rejected documents) or bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from catalog.loader import LoadReport
    from catalog.models import Collection
    from core.settings import Settings

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_PARTIAL = 2


class CliError(Exception):
    """A fatal, user-facing error: printed as one line, exit code 1."""


@dataclass(frozen=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ------------------------------------------------------------------------------------- load


def _build_embeddings(settings: Settings) -> Embeddings:
    from catalog.embeddings import build_embeddings

    return build_embeddings(settings)


class _Progress:
    """A tqdm bar per collection on a terminal; plain lines when stderr is a pipe or a file."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._bar: Any = None
        self._current: str | None = None

    def __call__(self, collection: Collection, done: int, total: int) -> None:
        if not self._tty:
            print(f"{collection}: {done}/{total}", file=self._stream, flush=True)
            return
        if collection != self._current:
            from tqdm import tqdm

            self.close()
            self._bar = tqdm(total=total, desc=f"{collection:<9}", unit="doc", file=self._stream)
            self._current = collection
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _configure_load(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--products", metavar="P", help="products file or URL (default: sample)")
    parser.add_argument(
        "--customers",
        metavar="P",
        help="customers file or URL; may mix customers and sales orders (default: sample)",
    )
    parser.add_argument("--sales", metavar="P", help="sales orders file or URL")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="drop the loaded collections first (needed after changing embeddings)",
    )


async def _open_store(settings: Settings, embeddings: Embeddings, replace: bool) -> Any:
    """The configured store; `--replace` may open one built with another embedding model."""
    from catalog.factory import open_catalog_store

    return await open_catalog_store(settings, embeddings, allow_identity_change=replace)


async def _load(args: argparse.Namespace) -> tuple[LoadReport, str]:
    from catalog.loader import load_catalog
    from core.settings import Settings

    settings = Settings()
    embeddings = _build_embeddings(settings)
    store = await _open_store(settings, embeddings, args.replace)
    progress = _Progress(sys.stderr)
    try:
        report = await load_catalog(
            store,
            products=args.products,
            customers=args.customers,
            sales=args.sales,
            replace=args.replace,
            progress=progress,
        )
    finally:
        progress.close()
        await store.aclose()
    from catalog.factory import describe_catalog_store

    return report, describe_catalog_store(settings)


def _run_load(args: argparse.Namespace) -> int:
    report, where = asyncio.run(_load(args))
    out = sys.stdout
    print(f"Catalog {where}", file=out)
    for collection, total in report.totals.items():
        written = report.written[collection]
        print(f"  {collection:<10} {written:>7} written {total:>7} in store", file=out)
    if report.rejects:
        noun = "document" if len(report.rejects) == 1 else "documents"
        print(f"Rejected {len(report.rejects)} {noun}:", file=out)
        for reject in report.rejects:
            print(f"  {reject}", file=out)
        return EXIT_PARTIAL
    return EXIT_OK


# ------------------------------------------------------------------------------------ serve


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    parser.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="honour X-Forwarded-* headers from trusted proxies (default: on, as uvicorn)",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="proxies trusted for X-Forwarded-* (default 127.0.0.1; '*' inside a container)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--timeout-graceful-shutdown",
        type=int,
        default=25,
        metavar="S",
        help="on SIGTERM, wait up to S seconds for requests and streams to end (default 25)",
    )


def _run_serve(args: argparse.Namespace) -> int:
    """Serve the API; the lifespan loads the bundled sample into an empty embedded store."""
    # One BLAS thread per process: a query's embedding is too small to gain from threads, and
    # on a busy 2-core host OpenBLAS's thread hand-offs made its p90 10-40x worse
    # (benchmarks/service.py). Set before numpy loads; an explicit value wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import uvicorn

    from core.settings import Settings

    # The app cannot see uvicorn's bind address: pass it on (workers and reloads inherit it)
    # so that open mode on a non-loopback address logs a warning at startup (app.auth).
    os.environ["COSMIC_WORKS_BIND_HOST"] = args.host
    Settings()  # fail fast, as one line, on invalid settings
    print(
        f"Cosmic Works agent: chat at http://{args.host}:{args.port}/chat "
        f"(API docs at /docs, LangServe playground at /agent/playground/)",
        file=sys.stderr,
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        reload=args.reload,
        workers=None if args.reload else args.workers,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        log_level="info",
    )
    return EXIT_OK


# -------------------------------------------------------------------------------------- ask


def _configure_ask(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help="the question to ask the agent")
    parser.add_argument(
        "--session", metavar="ID", help="continue this session (default: a new session)"
    )


async def _ask(question: str, session: str | None) -> str:
    """Run one turn, streaming the answer's tokens to stdout; returns the session id."""
    import uuid

    from langchain_core.messages import AIMessageChunk, HumanMessage

    from core.settings import Settings
    from graphs.graph import AGENT_NODE
    from graphs.runtime import TURN_DURABILITY, open_runtime

    settings = Settings()
    session_id = session or uuid.uuid4().hex
    async with open_runtime(settings) as runtime:
        config = runtime.run_config(session_id)
        streamed = False
        async for chunk, metadata in runtime.graph.astream(
            {"messages": [HumanMessage(question)]},
            config,
            stream_mode="messages",
            durability=TURN_DURABILITY,  # as the service: one checkpoint when the turn ends
        ):
            if (
                isinstance(chunk, AIMessageChunk)
                and isinstance(metadata, dict)
                and metadata.get("langgraph_node") == AGENT_NODE
                and not chunk.tool_call_chunks
                and chunk.text
            ):
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
                streamed = True
        if not streamed:  # a model that does not stream: print the final answer
            state = await runtime.graph.aget_state(config)
            sys.stdout.write(state.values["messages"][-1].text)
        sys.stdout.write("\n")
        sys.stdout.flush()
    return session_id


def _run_ask(args: argparse.Namespace) -> int:
    from app.schemas import SESSION_ID_PATTERN

    if args.session is not None and not re.fullmatch(SESSION_ID_PATTERN, args.session):
        raise CliError("--session: letters, digits and _ . : - only, at most 128 characters")
    session_id = asyncio.run(_ask(args.question, args.session))
    print(f"(session {session_id}: continue with --session {session_id})", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------------- migrate


def _configure_migrate(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Creates the checkpoint, session and catalog collections and their indexes on "
        "MONGODB_URI / MONGODB_DATABASE. Run it once before the first load or serve on "
        "Azure Cosmos DB, which refuses unique indexes on collections that hold documents. "
        "Safe to re-run."
    )


def _run_migrate(args: argparse.Namespace) -> int:
    from core.mongodb import describe_mongodb
    from core.settings import Settings
    from graphs.migrate import run_migration

    settings = Settings()
    steps = asyncio.run(run_migration(settings))
    uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else ""
    print(f"{describe_mongodb(uri)}, database {settings.mongodb_database}", file=sys.stdout)
    collection_width = max((len(step.collection) for step in steps), default=0)
    what_width = max((len(step.what) for step in steps), default=0)
    for step in steps:
        print(
            f"  {step.collection:<{collection_width}}  {step.what:<{what_width}}  {step.status}",
            file=sys.stdout,
        )
    return EXIT_OK


# ------------------------------------------------------------------------------------- main

COMMANDS: dict[str, Command] = {
    "load": Command(
        help="load products, customers and sales orders (files or URLs) into the catalog",
        configure=_configure_load,
        run=_run_load,
    ),
    "serve": Command(
        help="serve the HTTP API (loads the sample into an empty embedded store first)",
        configure=_configure_serve,
        run=_run_serve,
    ),
    "ask": Command(
        help="ask the agent one question from the terminal",
        configure=_configure_ask,
        run=_run_ask,
    ),
    "migrate": Command(
        help="create the MongoDB collections and indexes (run before the first load on Cosmos DB)",
        configure=_configure_migrate,
        run=_run_migrate,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cosmic-works", description="Cosmic Works shop assistant backend."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.configure(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def _fatal_message(exc: BaseException) -> str:
    from pydantic import ValidationError

    from app.startup import operator_error_types
    from core.settings import settings_error_message

    if isinstance(exc, ValidationError):  # bad settings from the environment
        return settings_error_message(exc)
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    if isinstance(exc, (CliError, *operator_error_types())):
        return message
    return f"{type(exc).__name__}: {message}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = COMMANDS.get(args.command or "")
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_PARTIAL
    try:
        return command.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("COSMIC_WORKS_DEBUG"):
            raise
        print(f"error: {_fatal_message(exc)}", file=sys.stderr)
        return EXIT_FATAL


if __name__ == "__main__":
    sys.exit(main())
