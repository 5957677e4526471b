"""Precomputed vectors of the bundled sample, so a fresh machine starts in seconds.

Embedding the ~2,100 sample documents with the local model takes tens of seconds on two cores
(the model's floating-point cost, not ours: sentence-transformers on torch is no faster here).
The sample never changes at run time, so its vectors ship with it, keyed by the sha256 of the
exact text embedded. `LocalMiniLMEmbeddings` uses a vector from here only when the text matches
byte for byte and the file was made by the same model; any other text is computed as usual.
Regenerate with `python -m catalog.sample_vectors` after changing the sample or the texts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

VECTORS_FILE = "vectors-all-MiniLM-L6-v2.npz"
KEY_BYTES = 16


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


class PrecomputedVectors:
    """An immutable text → unit vector table for one embedding model."""

    def __init__(self, identity: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) != len(vectors):
            raise ValueError("keys and vectors differ in length")
        self.identity = identity
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._vectors.setflags(write=False)
        # Keys are a (n, KEY_BYTES) uint8 matrix: numpy's fixed bytes type drops trailing NULs.
        keys = np.asarray(keys, dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        self._rows = {key.tobytes(): row for row, key in enumerate(keys)}

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def dimensions(self) -> int:
        return int(self._vectors.shape[1])

    def lookup(self, texts: Sequence[str]) -> tuple[list[int], np.ndarray]:
        """Positions of `texts` found here, and their vectors (in the same order)."""
        found: list[int] = []
        rows: list[int] = []
        for position, text in enumerate(texts):
            row = self._rows.get(text_key(text))
            if row is not None:
                found.append(position)
                rows.append(row)
        return found, self._vectors[rows]

    def save(self, path: Path) -> None:
        names = list(self._rows)
        keys = np.frombuffer(b"".join(names), dtype=np.uint8).reshape(len(names), KEY_BYTES)
        order = [self._rows[name] for name in names]
        with path.open("wb") as handle:
            np.savez(
                handle,
                identity=np.array(self.identity),
                keys=keys,
                vectors=self._vectors[order],
            )

    @classmethod
    def from_texts(
        cls, identity: str, texts: Sequence[str], vectors: np.ndarray
    ) -> PrecomputedVectors:
        raw = b"".join(text_key(t) for t in texts)
        keys = np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), KEY_BYTES)
        return cls(identity, keys, vectors)

    @classmethod
    def load(cls, path: Path) -> PrecomputedVectors:
        with np.load(path, allow_pickle=False) as data:
            return cls(str(data["identity"]), data["keys"], data["vectors"])


def bundled_vectors_path() -> Path:
    from catalog.sample import sample_dir

    return Path(str(sample_dir())) / VECTORS_FILE


@lru_cache(maxsize=1)
def bundled_sample_vectors() -> PrecomputedVectors | None:
    """The shipped table (read once per process; immutable), or None when it is absent."""
    path = bundled_vectors_path()
    if not path.is_file():
        return None
    return PrecomputedVectors.load(path)
