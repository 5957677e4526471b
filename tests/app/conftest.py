"""Fixtures for HTTP tests: an app over a copy of the sample catalog, served in-process."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.language_models import BaseChatModel

from core.settings import Settings
from tests.fakes import AppFactory


@pytest.fixture(scope="session")
def sample_catalog_file(sample_store_path: Path) -> Path:
    """The bundled sample, loaded once and cached (see `sample_store_path` in tests/conftest.py)."""
    return sample_store_path


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


# --- Apps over a chosen chat model (chat / session / turn tests) ------------------------------


@pytest.fixture
def open_app(settings: Settings) -> AppFactory:
    """`async with open_app(model=..., settings=...) as app:` — an app with its lifespan running.

    Defaults to the test settings and the configured (offline) model; pass a scripted fake
    model to control answers, delays and failures.
    """

    @asynccontextmanager
    async def factory(
        model: BaseChatModel | None = None, *, settings: Settings = settings
    ) -> AsyncIterator[FastAPI]:
        from app.main import create_app

        application = create_app(settings, model=model)
        async with application.router.lifespan_context(application):
            yield application

    return factory
