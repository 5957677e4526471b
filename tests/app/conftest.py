"""Fixtures for HTTP tests: an app over a copy of the sample catalog, served in-process."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings


def _build_sample_catalog(path: Path) -> None:
    from catalog.embeddings import build_embeddings
    from catalog.loader import load_catalog
    from catalog.sqlite_store import open_sqlite_store

    async def build() -> None:
        embeddings = build_embeddings(Settings(_env_file=None))
        store = await open_sqlite_store(path, embeddings)
        try:
            await load_catalog(store)
        finally:
            await store.aclose()

    asyncio.run(build())


@pytest.fixture(scope="session")
def sample_catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample loaded once per test session (embedding it takes seconds)."""
    path = tmp_path_factory.mktemp("sample-catalog") / "catalog.sqlite"
    _build_sample_catalog(path)
    return path


@pytest.fixture
def data_dir(tmp_path: Path, sample_catalog_file: Path) -> Iterator[Path]:
    """A fresh data dir holding a copy of the loaded sample catalog and no conversations."""
    target = tmp_path / "data"
    target.mkdir()
    shutil.copy(sample_catalog_file, target / "catalog.sqlite")
    yield target


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        model="offline",
        embeddings="local",
        store="sqlite",
        checkpointer="sqlite",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (runtime built, closed after the test)."""
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
