"""The shipped vectors of the sample: complete, equal to what the model computes, and used
instead of running the model."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.embeddings import EmbeddingsError, LocalMiniLMEmbeddings
from catalog.embeddings.precomputed import PrecomputedVectors, bundled_sample_vectors
from catalog.sample_vectors import missing_texts, sample_texts


def test_every_sample_text_has_a_shipped_vector() -> None:
    assert missing_texts() == [], "run `python -m catalog.sample_vectors` and commit the file"


def test_shipped_vectors_equal_the_model(local_embeddings: LocalMiniLMEmbeddings) -> None:
    table = bundled_sample_vectors()
    assert table is not None
    texts = sample_texts()
    picks = [texts[i] for i in np.random.default_rng(7).choice(len(texts), 12, replace=False)]
    found, stored = table.lookup(picks)
    assert found == list(range(len(picks)))
    computed = LocalMiniLMEmbeddings().embed_array(picks)  # no table: really computed
    cosines = np.sum(stored * computed, axis=1)
    assert float(cosines.min()) >= 0.99999


def test_known_texts_skip_the_model_and_unknown_ones_are_computed() -> None:
    texts = sample_texts()[:3]
    base = LocalMiniLMEmbeddings()
    vectors = np.eye(3, 384, dtype=np.float32)  # distinct markers, not model output
    table = PrecomputedVectors.from_texts("local:all-MiniLM-L6-v2:384", texts, vectors)

    cached = LocalMiniLMEmbeddings(precomputed=table)
    assert np.array_equal(cached.embed_array(texts), vectors)
    assert not cached.loaded  # the model was never read

    mixed = ["a brand new text", texts[1], "another new one"]
    result = cached.embed_array(mixed)
    assert np.array_equal(result[1], vectors[1])
    expected = base.embed_array([mixed[0], mixed[2]])
    assert np.allclose(result[[0, 2]], expected, atol=1e-6)


def test_vectors_of_another_model_are_refused() -> None:
    table = PrecomputedVectors.from_texts("openai:x", ["t"], np.ones((1, 384), np.float32))
    with pytest.raises(EmbeddingsError, match="openai:x"):
        LocalMiniLMEmbeddings(precomputed=table)


def test_table_round_trips_through_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts = ["x", "y", "z" * 50]
    vectors = np.arange(3 * 4, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "v.npz"
    PrecomputedVectors.from_texts("id", texts, vectors).save(path)
    loaded = PrecomputedVectors.load(path)
    found, stored = loaded.lookup(["z" * 50, "nope", "x"])
    assert found == [0, 2]
    assert np.array_equal(stored, vectors[[2, 0]])
    assert loaded.identity == "id" and len(loaded) == 3
