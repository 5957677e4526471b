"""A real MongoDB-wire-protocol server for tests: SecantusDB on loopback (test-only, GPL-2.0).

No `mongod` can be installed on our machines and mocks are no substitute, so the MongoDB tests
start `secantusd-py` (from the `secantusdb` dev dependency) on a free port with its storage in a
temporary directory. It runs CRUD, aggregation, indexes and `MongoDBSaver`, not `$vectorSearch`
or `cosmosSearch` (those pipelines are checked structurally).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymongo

from tests.server_process import free_port

STARTUP_TIMEOUT_S = 60.0


def secantus_executable() -> str | None:
    candidate = Path(sys.executable).with_name("secantusd-py")
    return str(candidate) if candidate.is_file() else shutil.which("secantusd-py")


@contextmanager
def secantus_server(storage: Path, port: int | None = None) -> Iterator[str]:
    """Start SecantusDB over `storage`; yields `mongodb://127.0.0.1:PORT`; stops it on exit.

    `port` pins the port (default: a free one), so a test can stop the server and start it
    again on the same storage and address, as a database restart looks to its clients.
    """
    executable = secantus_executable()
    if executable is None:
        raise RuntimeError("secantusd-py not found: run `make install` (dev dependencies)")
    port = port or free_port()
    storage.mkdir(parents=True, exist_ok=True)
    log = storage.parent / f"secantus-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [executable, "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", str(storage), "--log-level", "WARNING"],
            cwd=storage.parent,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    uri = f"mongodb://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"secantusd-py exited: {log.read_text()[-2000:]}")
            try:
                with pymongo.MongoClient(uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                break
            except pymongo.errors.PyMongoError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"secantusd-py not ready: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)
        yield uri
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
