"""Shared fixtures: cheap deterministic embeddings, the real local model, the loaded sample."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbeddings(Embeddings):
    """Bag of words hashed into 384 dims: texts sharing words are similar. For store tests."""

    dimensions = 384

    def _embed(self, text: str) -> list[float]:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vector[bucket % self.dimensions] += 1.0
        norm = float(np.linalg.norm(vector))
        return (vector / norm if norm else vector).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


@pytest.fixture
def hashing_embeddings() -> HashingEmbeddings:
    return HashingEmbeddings()


@pytest.fixture(scope="session")
def local_embeddings() -> Embeddings:
    """The real all-MiniLM-L6-v2 embeddings, from the bundled weights."""
    from catalog.embeddings import build_embeddings
    from core.settings import Settings

    return build_embeddings(Settings(_env_file=None, embeddings="local"))


def _sample_key(embeddings: Embeddings) -> str:
    """Changes whenever the sample, the document texts, the store or the model change."""
    import catalog.documents
    import catalog.models
    import catalog.sqlite_store
    import catalog.upserts
    from catalog.loader import SAMPLE_CUSTOMERS, SAMPLE_PRODUCTS, sample_path

    digest = hashlib.sha256(catalog.sqlite_store._embedding_identity(embeddings).encode())
    for module in (catalog.documents, catalog.models, catalog.sqlite_store, catalog.upserts):
        digest.update(Path(str(module.__file__)).read_bytes())
    for name in (SAMPLE_PRODUCTS, SAMPLE_CUSTOMERS):
        digest.update(sample_path(name).read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def sample_store_path(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    local_embeddings: Embeddings,
) -> Path:
    """A SQLite catalog with the bundled sample loaded; a private copy per session.

    Loading takes seconds (the sample ships precomputed vectors; without them, embedding the
    ~2,100 documents takes about half a minute on two cores), so the loaded file is kept in
    pytest's cache dir under a content key and reused by later runs.
    """
    from catalog.loader import SAMPLE_CUSTOMERS, SAMPLE_PRODUCTS, load_catalog, sample_path
    from catalog.sqlite_store import open_sqlite_store

    for name in (SAMPLE_PRODUCTS, SAMPLE_CUSTOMERS):
        assert sample_path(name).is_file(), f"the bundled sample file {name} is missing"
    cached = request.config.cache.mkdir("cosmic-works-sample") / (
        f"{_sample_key(local_embeddings)}.sqlite"
    )
    if not cached.is_file():
        building = cached.with_suffix(f".{os.getpid()}.tmp")

        async def build() -> None:
            store = await open_sqlite_store(building, local_embeddings)
            try:
                report = await load_catalog(store)
                assert not report.rejects, report.rejects[:5]
            finally:
                await store.aclose()  # checkpoints the WAL into the main file

        # In a thread of its own: the first test to ask may be async, its loop running.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, build()).result()
        os.replace(building, cached)
    path = tmp_path_factory.mktemp("sample-store") / "catalog.sqlite"
    shutil.copy(cached, path)
    return path


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SecantusDB server (real MongoDB wire protocol) for the whole test session."""
    from tests.mongo_server import secantus_server

    with secantus_server(tmp_path_factory.mktemp("secantus") / "data") as uri:
        yield uri


@pytest.fixture
def mongodb_database(request: pytest.FixtureRequest) -> str:
    """A database name of this test's own, so tests never see each other's documents."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    return f"cw_test_{digest}"
