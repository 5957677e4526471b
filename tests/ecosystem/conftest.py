"""Fixtures for the ecosystem tests: a data dir holding the loaded sample catalog, an app."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, sample_store_path: Path) -> Path:
    """A fresh data dir with a copy of the loaded sample catalog and no conversations."""
    target = tmp_path / "data"
    target.mkdir()
    shutil.copy(sample_store_path, target / "catalog.sqlite")
    return target


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
    """The app with its lifespan running."""
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
