"""Embeddings: the bundled all-MiniLM-L6-v2 on numpy (default), Azure OpenAI, or OpenAI.

`build_embeddings(settings)` picks one; `embedding_identity(embeddings)` names its vector space
so that a store never mixes vectors from different models.
"""

from catalog.embeddings.factory import build_embeddings, embedding_identity
from catalog.embeddings.local import (
    DIMENSIONS,
    MODEL_NAME,
    EmbeddingsError,
    LocalMiniLMEmbeddings,
    default_model_dir,
)

__all__ = [
    "DIMENSIONS",
    "MODEL_NAME",
    "EmbeddingsError",
    "LocalMiniLMEmbeddings",
    "build_embeddings",
    "default_model_dir",
    "embedding_identity",
]
