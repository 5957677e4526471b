"""The `cosmic-works` command line: one subcommand per entry of `COMMANDS`.

To add a subcommand (`serve`, `ask`), add a `Command` to `COMMANDS`: its `configure` adds the
arguments, its `run` returns the exit code. Errors the user can fix print one line, no traceback.
Exit codes: 0 success, 1 fatal error, 2 partial success (e.g. rejected documents) or bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
    if settings.store == "sqlite":
        from catalog.sqlite_store import open_sqlite_store

        return await open_sqlite_store(
            settings.sqlite_catalog_path, embeddings, allow_identity_change=replace
        )
    raise CliError(
        f"store {settings.store!r}: the MongoDB store comes with the MongoDB backend; "
        "use COSMIC_WORKS_STORE=sqlite"
    )


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
    return report, str(settings.sqlite_catalog_path)


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


# ------------------------------------------------------------------------------------- main

COMMANDS: dict[str, Command] = {
    "load": Command(
        help="load products, customers and sales orders (files or URLs) into the catalog",
        configure=_configure_load,
        run=_run_load,
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

    if isinstance(exc, ValidationError):  # bad settings from the environment
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"invalid setting {where}: {first['msg']}"
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    known = ("SourceError", "StoreError", "EmbeddingsError", "CliError")
    return message if type(exc).__name__ in known else f"{type(exc).__name__}: {message}"


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
