"""Build the configured embeddings model, and name it so stored vectors are never mixed.

`settings.embeddings` (env `COSMIC_WORKS_EMBEDDINGS`):

* `local` (default): all-MiniLM-L6-v2 on numpy from the bundled weights; no key, no network.
* `azure_openai`: an Azure OpenAI embeddings deployment, with `AZURE_OPENAI_API_KEY` if set,
  else Microsoft Entra ID (`DefaultAzureCredential`: managed identity, workload identity,
  `az login`...).
* `openai`: OpenAI, or any OpenAI-compatible server through `OPENAI_BASE_URL` (Ollama, vLLM,
  llama.cpp server).

Secrets stay in `SecretStr` all the way into the client and are never logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from catalog.embeddings.local import IDENTITY as LOCAL_IDENTITY
from catalog.embeddings.local import EmbeddingsError, LocalMiniLMEmbeddings
from catalog.embeddings.precomputed import bundled_sample_vectors
from core.entra_id import entra_id_token_providers

if TYPE_CHECKING:  # pragma: no cover
    from core.settings import Settings

logger = logging.getLogger(__name__)

#: Sent as the key to OpenAI-compatible servers that need none (Ollama, vLLM...).
_NO_KEY = "not-needed"


def build_embeddings(settings: Settings) -> Embeddings:
    """The embeddings named by `settings.embeddings`; raises EmbeddingsError if misconfigured.

    Nothing here contacts a server or loads the local model: that happens on first use.
    """
    provider = settings.embeddings
    if provider == "local":
        return LocalMiniLMEmbeddings(precomputed=bundled_sample_vectors())
    if provider == "azure_openai":
        return _azure_openai(settings)
    if provider == "openai":
        return _openai(settings)
    raise EmbeddingsError(
        f"unknown embeddings provider {provider!r}: set COSMIC_WORKS_EMBEDDINGS to "
        "'local', 'azure_openai' or 'openai'"
    )


def _azure_openai(settings: Settings) -> Embeddings:
    if not settings.azure_openai_endpoint:
        raise EmbeddingsError(
            "COSMIC_WORKS_EMBEDDINGS=azure_openai needs the Azure OpenAI endpoint: set "
            "AZURE_OPENAI_ENDPOINT (e.g. https://<resource>.openai.azure.com/)"
        )
    if not settings.azure_openai_embeddings_deployment:
        raise EmbeddingsError(
            "COSMIC_WORKS_EMBEDDINGS=azure_openai needs a deployment name: set "
            "AZURE_OPENAI_EMBEDDINGS_DEPLOYMENT"
        )
    from langchain_openai import AzureOpenAIEmbeddings

    # Keyword names are langchain-openai's aliases (the field names differ), hence `Any`.
    kwargs: dict[str, Any] = {
        "azure_endpoint": settings.azure_openai_endpoint,
        "azure_deployment": settings.azure_openai_embeddings_deployment,
        "api_version": settings.openai_api_version,
        "timeout": settings.model_timeout_s,
        "max_retries": settings.model_max_retries,
    }
    key = settings.azure_openai_api_key
    if key is not None and key.get_secret_value():
        kwargs["api_key"] = key
        auth_kind = "api key"
    else:
        sync_provider, async_provider = entra_id_token_providers()
        kwargs["azure_ad_token_provider"] = sync_provider
        # Query embeddings run on the request path: the token refresh goes to a thread.
        kwargs["azure_ad_async_token_provider"] = async_provider
        auth_kind = "Entra ID"
    embeddings = AzureOpenAIEmbeddings(**kwargs)
    logger.info(
        "embeddings: Azure OpenAI deployment %r at %s (%s)",
        settings.azure_openai_embeddings_deployment,
        settings.azure_openai_endpoint,
        auth_kind,
    )
    return embeddings


def _openai(settings: Settings) -> Embeddings:
    key = settings.openai_api_key
    has_key = key is not None and bool(key.get_secret_value())
    if not has_key and not settings.openai_base_url:
        raise EmbeddingsError(
            "COSMIC_WORKS_EMBEDDINGS=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for an "
            "OpenAI-compatible server such as Ollama or vLLM)"
        )
    if not settings.openai_embeddings_model:
        raise EmbeddingsError(
            "COSMIC_WORKS_EMBEDDINGS=openai needs a model name: set OPENAI_EMBEDDINGS_MODEL"
        )
    from langchain_openai import OpenAIEmbeddings

    compatible_server = bool(settings.openai_base_url)
    kwargs: dict[str, Any] = {  # langchain-openai's aliases, as for Azure above
        "model": settings.openai_embeddings_model,
        "api_key": key if has_key else SecretStr(_NO_KEY),
        "base_url": settings.openai_base_url,
        "timeout": settings.model_timeout_s,
        "max_retries": settings.model_max_retries,
        # Other servers take text, not tiktoken ids, and tiktoken would fetch its vocabulary.
        "check_embedding_ctx_length": not compatible_server,
    }
    embeddings = OpenAIEmbeddings(**kwargs)
    logger.info(
        "embeddings: OpenAI model %r%s",
        settings.openai_embeddings_model,
        f" at {settings.openai_base_url}" if compatible_server else "",
    )
    return embeddings


def embedding_identity(embeddings: Embeddings) -> str:
    """A stable name of the vector space `embeddings` produce.

    The store records it with the vectors and refuses to mix vectors of different models,
    e.g. `local:all-MiniLM-L6-v2:384`, `azure_openai:embeddings`,
    `openai:text-embedding-3-small`. A `:<n>` suffix is added when a remote model is asked
    for `n` dimensions. Any other Embeddings may define `identity` (a string attribute);
    otherwise its class name (and `size`, as in LangChain's fake embeddings) is used.
    """
    if isinstance(embeddings, LocalMiniLMEmbeddings):
        return LOCAL_IDENTITY
    explicit = getattr(embeddings, "identity", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    try:
        from langchain_openai import AzureOpenAIEmbeddings, OpenAIEmbeddings
    except ImportError:  # pragma: no cover - langchain-openai is a dependency
        AzureOpenAIEmbeddings = OpenAIEmbeddings = None  # type: ignore[assignment,misc]  # noqa: N806
    if AzureOpenAIEmbeddings is not None and isinstance(embeddings, AzureOpenAIEmbeddings):
        name = f"azure_openai:{embeddings.deployment or embeddings.model}"
        return _with_dimensions(name, embeddings.dimensions)
    if OpenAIEmbeddings is not None and isinstance(embeddings, OpenAIEmbeddings):
        return _with_dimensions(f"openai:{embeddings.model}", embeddings.dimensions)
    cls = type(embeddings)
    name = f"{cls.__module__}.{cls.__qualname__}"
    size = getattr(embeddings, "size", None) or getattr(embeddings, "dimensions", None)
    return _with_dimensions(name, size if isinstance(size, int) else None)


def _with_dimensions(name: str, dimensions: int | None) -> str:
    return f"{name}:{dimensions}" if dimensions else name
