"""The chat-model factory (`offline` | `azure_openai` | `openai`) and provider-error mapping.

`build_chat_model` is chosen by `settings.resolved_model` alone and builds no network client
beyond the provider SDK's own (nothing is contacted until the first call). `describe_model`
is safe to log or to show on a health route: it never carries a key. `classify_model_error`
turns a provider failure raised anywhere in a graph run into `(HTTP status, code, message)`
for the service layer; its messages name the provider and never carry keys or raw provider
text (OpenAI's 401 body echoes part of the key, for instance).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from core.entra_id import entra_id_token_providers
from core.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

# The key sent to an OpenAI-compatible server that needs none (Ollama, vLLM, llama.cpp):
# the OpenAI SDK refuses to build a client without a key.
PLACEHOLDER_API_KEY = "not-needed"

ModelErrorMapping = tuple[int, str, str]


class ModelConfigError(ValueError):
    """The chosen chat-model provider lacks a setting; the message names the env var to set."""


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------


def build_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model selected by `settings.resolved_model`.

    Raises `ModelConfigError` when the provider is chosen explicitly (`COSMIC_WORKS_MODEL`)
    but its endpoint or key is missing.
    """
    provider = settings.resolved_model
    if provider == "offline":
        from graphs.offline_model import OfflineChatModel

        return OfflineChatModel()
    if provider == "azure_openai":
        return _build_azure_openai(settings)
    if provider == "openai":
        return _build_openai(settings)
    raise ModelConfigError(  # pragma: no cover - Settings validates the literal
        f"Unknown chat model provider {provider!r}: set COSMIC_WORKS_MODEL to offline, "
        "azure_openai or openai."
    )


def _common_kwargs(settings: Settings) -> dict[str, Any]:
    if settings.model_timeout_s <= 0:
        raise ModelConfigError(
            "COSMIC_WORKS_MODEL_TIMEOUT must be a positive number of seconds, "
            f"not {settings.model_timeout_s}."
        )
    if settings.model_max_retries < 0:
        raise ModelConfigError(
            f"COSMIC_WORKS_MODEL_MAX_RETRIES must be 0 or more, not {settings.model_max_retries}."
        )
    import openai

    return {
        # An `openai.Timeout` rather than a float: langchain-openai shares one process-wide
        # cached async HTTP client per (base_url, float timeout), whose pooled connections are
        # bound to the event loop that opened them; a second loop (a test, a CLI run next to
        # a server, a re-created app) then fails with "Event loop is closed". With a Timeout
        # object every model gets its own connection pool, owned by its runtime.
        "timeout": openai.Timeout(settings.model_timeout_s),
        "max_retries": settings.model_max_retries,
        "temperature": settings.temperature,
        # Bound the silence between two streamed chunks by the same budget as a request
        # (langchain-openai's own default is 120 s whatever the request timeout).
        "stream_chunk_timeout": settings.model_timeout_s,
    }


def _build_azure_openai(settings: Settings) -> BaseChatModel:
    from langchain_openai import AzureChatOpenAI

    endpoint = (settings.azure_openai_endpoint or "").strip()
    if not endpoint:
        raise ModelConfigError(
            "The azure_openai chat model needs an endpoint: set AZURE_OPENAI_ENDPOINT (or its "
            "alias AOAI_ENDPOINT), e.g. https://<resource>.openai.azure.com/."
        )
    deployment = settings.azure_openai_chat_deployment.strip()
    if not deployment:
        raise ModelConfigError(
            "The azure_openai chat model needs a deployment name: set "
            "AZURE_OPENAI_CHAT_DEPLOYMENT (default 'completions')."
        )
    kwargs = _common_kwargs(settings)
    kwargs.update(
        azure_endpoint=endpoint,
        azure_deployment=deployment,
        api_version=settings.openai_api_version,
    )
    key = _secret(settings.azure_openai_api_key)
    if key:
        kwargs["api_key"] = key
    else:
        # Entra ID (managed identity, workload identity, az login, ...). Passing api_key=None
        # stops langchain-openai from falling back to OPENAI_API_KEY for an Azure endpoint.
        sync_provider, async_provider = entra_id_token_providers()
        kwargs.update(
            api_key=None,
            azure_ad_token_provider=sync_provider,
            azure_ad_async_token_provider=async_provider,
        )
    return AzureChatOpenAI(**kwargs)


def _build_openai(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    base_url = (settings.openai_base_url or "").strip() or None
    key = _secret(settings.openai_api_key)
    if not key and not base_url:
        raise ModelConfigError(
            "The openai chat model needs OPENAI_API_KEY (api.openai.com) or OPENAI_BASE_URL "
            "(an OpenAI-compatible server such as Ollama: http://localhost:11434/v1)."
        )
    kwargs = _common_kwargs(settings)
    kwargs.update(
        model=settings.openai_model,
        api_key=key or PLACEHOLDER_API_KEY,
        base_url=base_url,
    )
    if base_url:
        # OpenAI-compatible servers speak chat completions, not the Responses API.
        kwargs["use_responses_api"] = False
    return ChatOpenAI(**kwargs)


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return raw.strip() or None


def _public_url(url: str | None) -> str | None:
    """The URL without credentials, query or fragment (safe to log)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def describe_model(settings: Settings) -> dict[str, Any]:
    """Provider and model/deployment of the configured chat model, without any secret."""
    provider = settings.resolved_model
    if provider == "azure_openai":
        return {
            "provider": provider,
            "model": settings.azure_openai_chat_deployment,
            "deployment": settings.azure_openai_chat_deployment,
            "endpoint": _public_url(settings.azure_openai_endpoint),
            "api_version": settings.openai_api_version,
            "auth": "api_key" if _secret(settings.azure_openai_api_key) else "entra_id",
            "timeout_s": settings.model_timeout_s,
            "max_retries": settings.model_max_retries,
        }
    if provider == "openai":
        return {
            "provider": provider,
            "model": settings.openai_model,
            "base_url": _public_url(settings.openai_base_url) or "https://api.openai.com/v1",
            "auth": "api_key" if _secret(settings.openai_api_key) else "none",
            "timeout_s": settings.model_timeout_s,
            "max_retries": settings.model_max_retries,
        }
    return {"provider": "offline", "model": "offline"}


# --------------------------------------------------------------------------------------------
# Error mapping
# --------------------------------------------------------------------------------------------

_AZURE_DEPLOYMENT_PATH = re.compile(r"/openai/deployments/([^/]+)/")
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def classify_model_error(
    exc: BaseException, settings: Settings | None = None
) -> ModelErrorMapping | None:
    """Map a provider failure to `(HTTP status, code, message)`, or None if it is not one.

    Follows `__cause__` / `__context__` so a provider error wrapped by another layer is still
    recognised. Codes: `model_timeout` (504), `model_rate_limited` (503),
    `model_unavailable` (502), `model_auth_failed` (502), `model_not_found` (502),
    `model_content_filtered` (400), `model_context_overflow` (400), `model_error` (502),
    `model_not_configured` (503). `settings`, when given, names the provider and the timeout;
    otherwise both are read from the failed request (URL, timeout extension).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        mapped = _classify_one(current, settings)
        if mapped is not None:
            return mapped
        current = current.__cause__ or current.__context__
    return None


def _classify_one(exc: BaseException, settings: Settings | None) -> ModelErrorMapping | None:
    if isinstance(exc, ModelConfigError):
        return 503, "model_not_configured", str(exc)
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on openai
        openai = None  # type: ignore[assignment]

    try:
        from langchain_core import exceptions as lc_errors
    except ImportError:  # pragma: no cover - langchain-core is a dependency
        lc_errors = None  # type: ignore[assignment]

    if lc_errors is not None and isinstance(exc, lc_errors.ContextOverflowError):
        return (
            400,
            "model_context_overflow",
            (
                f"{_provider_label(exc, settings)} cannot take a conversation this long; "
                "start a new session."
            ),
        )
    if openai is not None and isinstance(exc, openai.OpenAIError):
        mapped = _classify_openai(exc, openai, settings)
        if mapped is not None:
            return mapped
    if lc_errors is not None and isinstance(exc, lc_errors.ModelError):
        return _classify_langchain(exc, lc_errors, settings)
    if _is_stream_chunk_timeout(exc):
        who = _provider_label(exc, settings)
        seconds = getattr(exc, "timeout_s", None)
        return 504, "model_timeout", f"{who} stopped streaming for {_seconds(seconds)}."
    if _is_httpx_timeout(exc):
        who = _provider_label(exc, settings)
        return (
            504,
            "model_timeout",
            (f"{who} did not answer within {_seconds(_timeout_of(exc, settings))}."),
        )
    if _is_azure_credential_error(exc):
        return (
            502,
            "model_auth_failed",
            (
                "Could not get an Entra ID token for Azure OpenAI: sign in (az login), give the "
                "service a managed identity with the 'Cognitive Services OpenAI User' role, or set "
                "AZURE_OPENAI_API_KEY."
            ),
        )
    return None


def _classify_openai(
    exc: BaseException, openai: Any, settings: Settings | None
) -> ModelErrorMapping | None:
    who = _provider_label(exc, settings)
    if isinstance(exc, openai.APITimeoutError):
        seconds = _timeout_of(exc, settings)
        return 504, "model_timeout", f"{who} did not answer within {_seconds(seconds)}."
    if isinstance(exc, openai.APIConnectionError):
        return 502, "model_unavailable", f"{who} could not be reached."
    if isinstance(exc, openai.RateLimitError):
        return (
            503,
            "model_rate_limited",
            (f"{who} is rate limiting requests (HTTP 429); try again shortly."),
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        status = getattr(exc, "status_code", None)
        hint = _auth_hint(exc, settings)
        return 502, "model_auth_failed", (f"{who} rejected the credentials (HTTP {status}); {hint}")
    if isinstance(exc, openai.NotFoundError):
        hint = _model_hint(exc, settings)
        return 502, "model_not_found", f"{who} does not know the model (HTTP 404); {hint}"
    if isinstance(exc, openai.APIStatusError):
        status = getattr(exc, "status_code", None)
        code = _safe_code(exc)
        if code == "content_filter" or (status == 400 and code == "content_policy_violation"):
            return (
                400,
                "model_content_filtered",
                (f"{who} refused the request because of its content filter."),
            )
        detail = f" ({code})" if code else ""
        return 502, "model_error", f"{who} returned HTTP {status}{detail}."
    if isinstance(exc, openai.APIError):
        return 502, "model_error", f"{who} returned an invalid response."
    return None


def _classify_langchain(
    exc: BaseException, lc_errors: Any, settings: Settings | None
) -> ModelErrorMapping | None:
    """Provider-neutral model errors of langchain-core (any chat-model integration)."""
    who = _provider_label(exc, settings)
    if isinstance(exc, lc_errors.ModelTimeoutError):
        seconds = _timeout_of(exc, settings)
        return 504, "model_timeout", f"{who} did not answer within {_seconds(seconds)}."
    if isinstance(exc, lc_errors.ModelRateLimitError):
        return 503, "model_rate_limited", (f"{who} is rate limiting requests; try again shortly.")
    if isinstance(exc, lc_errors.ModelConnectionError):
        return 502, "model_unavailable", f"{who} could not be reached."
    if isinstance(exc, lc_errors.ModelAuthenticationError | lc_errors.ModelPermissionDeniedError):
        return (
            502,
            "model_auth_failed",
            (f"{who} rejected the credentials; {_auth_hint(exc, settings)}"),
        )
    if isinstance(exc, lc_errors.ModelNotFoundError):
        return (
            502,
            "model_not_found",
            (f"{who} does not know the model; {_model_hint(exc, settings)}"),
        )
    if isinstance(exc, lc_errors.ModelRefusalError):
        return None
    return 502, "model_error", f"{who} failed to answer."


def _seconds(value: float | None) -> str:
    if value is None:
        return "its timeout"
    return f"{value:g} s"


def _timeout_of(exc: BaseException, settings: Settings | None) -> float | None:
    if settings is not None:
        return settings.model_timeout_s
    request = _request_of(exc)
    if request is None:
        return None
    timeout = getattr(request, "extensions", {}).get("timeout")
    if isinstance(timeout, dict):
        values = [v for v in (timeout.get("read"), timeout.get("connect")) if v is not None]
        if values:
            return float(max(values))
    return None


def _request_of(exc: BaseException) -> Any:
    try:
        return exc.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when unset
        return None


def _provider_label(exc: BaseException, settings: Settings | None) -> str:
    """A human name for the provider, taken from settings or the failed request's URL."""
    request = _request_of(exc)
    path = ""
    host = ""
    if request is not None:
        url = getattr(request, "url", None)
        path = str(getattr(url, "path", "") or "")
        host = str(getattr(url, "host", "") or "")
    kind = "embeddings" if path.rstrip("/").endswith("/embeddings") else "model"
    match = _AZURE_DEPLOYMENT_PATH.search(path + "/")
    if match:
        return f"The Azure OpenAI {kind} deployment '{match.group(1)}'"
    if settings is not None and kind == "model":
        description = describe_model(settings)
        if description["provider"] == "azure_openai":
            return f"The Azure OpenAI model deployment '{description['deployment']}'"
        if description["provider"] == "openai":
            if settings.openai_base_url:
                return f"The OpenAI-compatible model server (model '{description['model']}')"
            return f"OpenAI (model '{description['model']}')"
    if host.endswith(("openai.azure.com", "cognitiveservices.azure.com")):
        return f"The Azure OpenAI {kind} provider"
    if host == "api.openai.com":
        return f"The OpenAI {kind} API"
    if host:
        return f"The OpenAI-compatible {kind} server"
    return "The model provider"


def _auth_hint(exc: BaseException, settings: Settings | None) -> str:
    label = _provider_label(exc, settings)
    if "Azure" in label:
        return "check AZURE_OPENAI_API_KEY (or the identity's role on the resource)."
    return "check OPENAI_API_KEY."


def _model_hint(exc: BaseException, settings: Settings | None) -> str:
    label = _provider_label(exc, settings)
    if "Azure" in label:
        return "check AZURE_OPENAI_CHAT_DEPLOYMENT and OPENAI_API_VERSION."
    return "check OPENAI_MODEL and OPENAI_BASE_URL."


def _safe_code(exc: BaseException) -> str | None:
    """The provider's short error code (e.g. `content_filter`), never its free text."""
    candidates: list[Any] = [getattr(exc, "code", None)]
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            candidates.extend([error.get("code"), error.get("type")])
    for value in candidates:
        if isinstance(value, str) and _SAFE_CODE.match(value):
            return value
    return None


def _is_stream_chunk_timeout(exc: BaseException) -> bool:
    cls = type(exc)
    return cls.__name__ == "StreamChunkTimeoutError" and cls.__module__.startswith(
        "langchain_openai"
    )


def _is_httpx_timeout(exc: BaseException) -> bool:
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        timeout_cls = getattr(module, "TimeoutException", None)
        if timeout_cls is not None and isinstance(exc, timeout_cls):
            return True
    return False


def _is_azure_credential_error(exc: BaseException) -> bool:
    try:
        from azure.core.exceptions import ClientAuthenticationError
    except ImportError:
        return False
    return isinstance(exc, ClientAuthenticationError)
