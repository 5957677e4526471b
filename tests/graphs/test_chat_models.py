"""The chat-model factory: provider choice, aliases, limits, errors, and secret-free metadata."""

from __future__ import annotations

import importlib
import json
from typing import Any

import openai
import pytest
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from core.settings import Settings
from graphs.chat_models import (
    PLACEHOLDER_API_KEY,
    ModelConfigError,
    build_chat_model,
    classify_model_error,
    describe_model,
)
from tests.graphs.openai_stub import clean_model_env

AZURE_ENDPOINT = "https://cosmic-test.openai.azure.com/"
AZURE_KEY = "azure-secret-key-0123456789"
OPENAI_KEY = "sk-test-secret-0123456789"

# The HTTP flavour the openai SDK is built on (httpx2 for openai>=3, httpx before).
try:
    http: Any = importlib.import_module("httpx2")
except ImportError:  # pragma: no cover - older openai SDK
    http = importlib.import_module("httpx")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_model_env(monkeypatch)


def settings_from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _secret(value: Any) -> str | None:
    return None if value is None else value.get_secret_value()


# -- provider choice --------------------------------------------------------------------------


def test_offline_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(monkeypatch)
    assert settings.resolved_model == "offline"
    assert describe_model(settings) == {"provider": "offline", "model": "offline"}
    from graphs.offline_model import OfflineChatModel

    assert isinstance(build_chat_model(settings), OfflineChatModel)


@pytest.mark.parametrize("endpoint_var", ["AZURE_OPENAI_ENDPOINT", "AOAI_ENDPOINT"])
@pytest.mark.parametrize("key_var", ["AZURE_OPENAI_API_KEY", "AOAI_KEY"])
def test_azure_chosen_by_endpoint_with_key(
    monkeypatch: pytest.MonkeyPatch, endpoint_var: str, key_var: str
) -> None:
    settings = settings_from_env(monkeypatch, **{endpoint_var: AZURE_ENDPOINT, key_var: AZURE_KEY})
    assert settings.resolved_model == "azure_openai"
    model = build_chat_model(settings)
    assert isinstance(model, AzureChatOpenAI)
    assert model.azure_endpoint == AZURE_ENDPOINT
    assert model.deployment_name == "completions"
    assert model.openai_api_version == settings.openai_api_version
    assert _secret(model.openai_api_key) == AZURE_KEY
    assert model.azure_ad_token_provider is None
    base_url = str(model.root_async_client.base_url)
    assert base_url.startswith(
        "https://cosmic-test.openai.azure.com/openai/deployments/completions"
    )
    assert describe_model(settings)["auth"] == "api_key"


def test_azure_deployment_and_api_version_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(
        monkeypatch,
        AOAI_ENDPOINT=AZURE_ENDPOINT,
        AOAI_KEY=AZURE_KEY,
        AZURE_OPENAI_CHAT_DEPLOYMENT="gpt-4o-chat",
        OPENAI_API_VERSION="2025-01-01-preview",
    )
    model = build_chat_model(settings)
    assert isinstance(model, AzureChatOpenAI)
    assert model.deployment_name == "gpt-4o-chat"
    assert model.openai_api_version == "2025-01-01-preview"
    assert "/openai/deployments/gpt-4o-chat" in str(model.root_async_client.base_url)


def test_azure_without_key_uses_entra_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # An OpenAI key in the environment must not be sent to the Azure endpoint.
    settings = settings_from_env(
        monkeypatch, AZURE_OPENAI_ENDPOINT=AZURE_ENDPOINT, OPENAI_API_KEY=OPENAI_KEY
    )
    assert settings.resolved_model == "azure_openai"
    model = build_chat_model(settings)
    assert isinstance(model, AzureChatOpenAI)
    assert model.openai_api_key is None
    assert callable(model.azure_ad_token_provider)
    assert callable(model.azure_ad_async_token_provider)
    assert OPENAI_KEY not in str(model.root_async_client.api_key)
    assert OPENAI_KEY not in str(model.root_client.api_key)
    description = describe_model(settings)
    assert description["auth"] == "entra_id"
    assert description["deployment"] == "completions"


def test_azure_wins_over_openai_base_url_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(
        monkeypatch,
        AZURE_OPENAI_ENDPOINT=AZURE_ENDPOINT,
        AZURE_OPENAI_API_KEY=AZURE_KEY,
        OPENAI_BASE_URL="http://localhost:11434/v1",
    )
    model = build_chat_model(settings)
    assert isinstance(model, AzureChatOpenAI)
    assert "cosmic-test.openai.azure.com/openai/deployments/completions" in str(
        model.root_async_client.base_url
    )


def test_each_model_gets_its_own_connection_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    # A shared pool would tie every model to the event loop that first used it.
    settings = settings_from_env(monkeypatch, OPENAI_BASE_URL="http://127.0.0.1:8080/v1")
    first, second = build_chat_model(settings), build_chat_model(settings)
    assert isinstance(first, ChatOpenAI) and isinstance(second, ChatOpenAI)
    assert first.root_async_client._client is not second.root_async_client._client


def test_openai_chosen_by_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(monkeypatch, OPENAI_API_KEY=OPENAI_KEY, OPENAI_MODEL="gpt-4.1")
    assert settings.resolved_model == "openai"
    model = build_chat_model(settings)
    assert type(model) is ChatOpenAI
    assert model.model_name == "gpt-4.1"
    assert _secret(model.openai_api_key) == OPENAI_KEY
    assert str(model.root_async_client.base_url).startswith("https://api.openai.com/v1")


def test_openai_chosen_by_base_url_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(
        monkeypatch, OPENAI_BASE_URL="http://localhost:11434/v1", OPENAI_MODEL="llama3.2"
    )
    assert settings.resolved_model == "openai"
    model = build_chat_model(settings)
    assert type(model) is ChatOpenAI
    assert model.openai_api_base == "http://localhost:11434/v1"
    assert _secret(model.openai_api_key) == PLACEHOLDER_API_KEY
    assert model.use_responses_api is False  # compatible servers speak chat completions
    assert str(model.root_async_client.base_url).startswith("http://localhost:11434/v1")
    assert describe_model(settings)["auth"] == "none"


def test_explicit_choice_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(
        monkeypatch,
        COSMIC_WORKS_MODEL="openai",
        AZURE_OPENAI_ENDPOINT=AZURE_ENDPOINT,
        AZURE_OPENAI_API_KEY=AZURE_KEY,
        OPENAI_API_KEY=OPENAI_KEY,
    )
    assert settings.resolved_model == "openai"
    assert type(build_chat_model(settings)) is ChatOpenAI


def test_explicit_offline_wins_over_configured_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(
        monkeypatch,
        COSMIC_WORKS_MODEL="offline",
        AZURE_OPENAI_ENDPOINT=AZURE_ENDPOINT,
        OPENAI_API_KEY=OPENAI_KEY,
    )
    assert settings.resolved_model == "offline"
    assert describe_model(settings)["provider"] == "offline"
    from graphs.offline_model import OfflineChatModel

    assert isinstance(build_chat_model(settings), OfflineChatModel)


# -- missing or invalid settings ------------------------------------------------------------


def test_azure_without_endpoint_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(monkeypatch, COSMIC_WORKS_MODEL="azure_openai", AOAI_KEY="k")
    with pytest.raises(ModelConfigError) as info:
        build_chat_model(settings)
    assert "AZURE_OPENAI_ENDPOINT" in str(info.value)
    assert "AOAI_ENDPOINT" in str(info.value)


def test_openai_without_key_or_base_url_names_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from_env(monkeypatch, COSMIC_WORKS_MODEL="openai")
    with pytest.raises(ModelConfigError) as info:
        build_chat_model(settings)
    assert "OPENAI_API_KEY" in str(info.value)
    assert "OPENAI_BASE_URL" in str(info.value)


def test_non_positive_timeout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(
        monkeypatch, OPENAI_API_KEY=OPENAI_KEY, COSMIC_WORKS_MODEL_TIMEOUT="0"
    )
    with pytest.raises(ModelConfigError, match="COSMIC_WORKS_MODEL_TIMEOUT"):
        build_chat_model(settings)


# -- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"AZURE_OPENAI_ENDPOINT": AZURE_ENDPOINT, "AZURE_OPENAI_API_KEY": AZURE_KEY},
        {"OPENAI_API_KEY": OPENAI_KEY},
        {"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"},
    ],
    ids=["azure_openai", "openai", "openai_compatible"],
)
def test_timeout_retries_and_temperature_applied(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    settings = settings_from_env(
        monkeypatch,
        COSMIC_WORKS_MODEL_TIMEOUT="7.5",
        COSMIC_WORKS_MODEL_MAX_RETRIES="4",
        COSMIC_WORKS_TEMPERATURE="0.3",
        **env,
    )
    model = build_chat_model(settings)
    assert isinstance(model, ChatOpenAI | AzureChatOpenAI)
    assert model.request_timeout == openai.Timeout(7.5)
    assert model.max_retries == 4
    assert model.temperature == 0.3
    assert model.stream_chunk_timeout == 7.5
    assert model.root_async_client.max_retries == 4
    assert model.root_async_client.timeout == openai.Timeout(7.5)
    description = describe_model(settings)
    assert description["timeout_s"] == 7.5
    assert description["max_retries"] == 4


# -- describe_model -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "secrets"),
    [
        (
            {"AOAI_ENDPOINT": AZURE_ENDPOINT, "AOAI_KEY": AZURE_KEY},
            [AZURE_KEY],
        ),
        (
            {
                "OPENAI_API_KEY": OPENAI_KEY,
                "OPENAI_BASE_URL": "http://user:hunter2@gpu-box:8000/v1?token=tok-123",
            },
            [OPENAI_KEY, "hunter2", "tok-123"],
        ),
    ],
    ids=["azure_openai", "openai"],
)
def test_describe_model_names_the_model_without_secrets(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], secrets: list[str]
) -> None:
    settings = settings_from_env(monkeypatch, **env)
    description = describe_model(settings)
    assert description["provider"] == settings.resolved_model
    assert description["model"] in {"completions", "gpt-4o-mini"}
    dumped = json.dumps(description)
    for secret in secrets:
        assert secret not in dumped
    if settings.resolved_model == "openai":
        assert description["base_url"] == "http://gpu-box:8000/v1"


# -- classify_model_error --------------------------------------------------------------------

AZURE_URL = (
    "https://cosmic-test.openai.azure.com/openai/deployments/completions/chat/completions"
    "?api-version=2024-10-21"
)
OPENAI_URL = "https://api.openai.com/v1/chat/completions"


def _request(url: str = OPENAI_URL, timeout: float = 5.0) -> Any:
    extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": 5}}
    return http.Request("POST", url, extensions=extensions)


def _status_error(cls: type[openai.APIStatusError], status: int, body: Any, url: str = OPENAI_URL):
    response = http.Response(status, request=_request(url), json=body)
    message = body.get("error", {}).get("message", "error") if isinstance(body, dict) else "error"
    return cls(message, response=response, body=body.get("error") if body else None)


def test_timeout_maps_to_504_with_the_budget() -> None:
    mapped = classify_model_error(openai.APITimeoutError(request=_request(AZURE_URL, 12.0)))
    assert mapped is not None
    status, code, message = mapped
    assert (status, code) == (504, "model_timeout")
    assert "12 s" in message
    assert "Azure OpenAI" in message and "completions" in message


def test_httpx_timeouts_map_to_504() -> None:
    import httpx

    for exc in (
        httpx.ReadTimeout("read timed out", request=httpx.Request("POST", OPENAI_URL)),
        http.ConnectTimeout("connect timed out", request=_request()),
    ):
        mapped = classify_model_error(exc)
        assert mapped is not None and mapped[:2] == (504, "model_timeout")


def test_rate_limit_maps_to_503() -> None:
    exc = _status_error(
        openai.RateLimitError, 429, {"error": {"message": "slow down", "code": "429"}}
    )
    assert classify_model_error(exc)[:2] == (503, "model_rate_limited")  # type: ignore[index]


def test_connection_error_maps_to_502() -> None:
    mapped = classify_model_error(openai.APIConnectionError(request=_request()))
    assert mapped is not None
    assert mapped[:2] == (502, "model_unavailable")
    assert "OpenAI" in mapped[2]


def test_auth_error_maps_to_502_and_never_echoes_the_key() -> None:
    body = {
        "error": {
            "message": "Incorrect API key provided: sk-test-******6789.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    mapped = classify_model_error(_status_error(openai.AuthenticationError, 401, body))
    assert mapped is not None
    status, code, message = mapped
    assert (status, code) == (502, "model_auth_failed")
    assert "sk-" not in message and "6789" not in message
    assert "OPENAI_API_KEY" in message


def test_azure_not_found_points_at_the_deployment() -> None:
    body = {"error": {"code": "DeploymentNotFound", "message": "The API deployment ..."}}
    mapped = classify_model_error(_status_error(openai.NotFoundError, 404, body, AZURE_URL))
    assert mapped is not None
    assert mapped[:2] == (502, "model_not_found")
    assert "AZURE_OPENAI_CHAT_DEPLOYMENT" in mapped[2]


def test_content_filter_maps_to_400() -> None:
    body = {"error": {"code": "content_filter", "message": "The response was filtered ..."}}
    mapped = classify_model_error(_status_error(openai.BadRequestError, 400, body, AZURE_URL))
    assert mapped is not None and mapped[:2] == (400, "model_content_filtered")


def test_other_status_errors_map_to_model_error() -> None:
    body = {"error": {"message": "boom secret-ish text", "type": "server_error"}}
    mapped = classify_model_error(_status_error(openai.InternalServerError, 500, body))
    assert mapped is not None
    status, code, message = mapped
    assert (status, code) == (502, "model_error")
    assert "HTTP 500" in message and "server_error" in message
    assert "boom" not in message


def test_wrapped_provider_errors_are_found() -> None:
    try:
        try:
            raise openai.APITimeoutError(request=_request())
        except openai.APITimeoutError as inner:
            raise RuntimeError("graph step failed") from inner
    except RuntimeError as outer:
        mapped = classify_model_error(outer)
    assert mapped is not None and mapped[:2] == (504, "model_timeout")


def test_settings_name_the_provider_and_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(
        monkeypatch, OPENAI_BASE_URL="http://127.0.0.1:8080/v1", COSMIC_WORKS_MODEL_TIMEOUT="3"
    )
    request = http.Request("POST", "http://127.0.0.1:8080/v1/chat/completions")
    mapped = classify_model_error(openai.APITimeoutError(request=request), settings)
    assert mapped is not None
    assert mapped[2] == (
        "The OpenAI-compatible model server (model 'gpt-4o-mini') did not answer within 3 s."
    )


def test_config_and_credential_errors() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    mapped = classify_model_error(ModelConfigError("set AZURE_OPENAI_ENDPOINT"))
    assert mapped == (503, "model_not_configured", "set AZURE_OPENAI_ENDPOINT")
    mapped = classify_model_error(ClientAuthenticationError("no credential"))
    assert mapped is not None and mapped[:2] == (502, "model_auth_failed")


def test_unrelated_errors_are_not_classified() -> None:
    assert classify_model_error(ValueError("nope")) is None
    assert classify_model_error(KeyError("messages")) is None
