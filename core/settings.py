"""One settings object, read from the environment (and `.env`) once and passed down.

Our own variables carry the `COSMIC_WORKS_` prefix; provider variables keep their standard
names, and the original lab's names (`AOAI_ENDPOINT`, `AOAI_KEY`, `DB_CONNECTION_STRING`) are
accepted as aliases so existing deployments keep working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ModelProvider = Literal["offline", "azure_openai", "openai"]
EmbeddingsProvider = Literal["local", "azure_openai", "openai"]
StoreBackend = Literal["sqlite", "mongodb"]
VectorSearchMode = Literal["atlas", "cosmos", "exact"]
CheckpointerBackend = Literal["sqlite", "memory", "mongodb"]


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob of the service. Build with `Settings()`; never at import time."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path(".data"), validation_alias=_env("COSMIC_WORKS_DATA_DIR"))
    store: StoreBackend = Field("sqlite", validation_alias=_env("COSMIC_WORKS_STORE"))
    checkpointer: CheckpointerBackend | None = Field(
        None,
        validation_alias=_env("COSMIC_WORKS_CHECKPOINTER"),
        description="Defaults to the store's backend (sqlite file or MongoDB).",
    )
    mongodb_uri: SecretStr | None = Field(
        None, validation_alias=_env("MONGODB_URI", "DB_CONNECTION_STRING")
    )
    mongodb_database: str = Field(
        "cosmic_works", validation_alias=_env("MONGODB_DATABASE", "COSMIC_WORKS_MONGODB_DATABASE")
    )
    vector_search: VectorSearchMode = Field(
        "exact", validation_alias=_env("COSMIC_WORKS_VECTOR_SEARCH")
    )

    model: ModelProvider | None = Field(None, validation_alias=_env("COSMIC_WORKS_MODEL"))
    embeddings: EmbeddingsProvider = Field(
        "local", validation_alias=_env("COSMIC_WORKS_EMBEDDINGS")
    )
    model_timeout_s: float = Field(60.0, validation_alias=_env("COSMIC_WORKS_MODEL_TIMEOUT"))
    model_max_retries: int = Field(2, validation_alias=_env("COSMIC_WORKS_MODEL_MAX_RETRIES"))
    temperature: float = Field(0.0, validation_alias=_env("COSMIC_WORKS_TEMPERATURE"))

    azure_openai_endpoint: str | None = Field(
        None, validation_alias=_env("AZURE_OPENAI_ENDPOINT", "AOAI_ENDPOINT")
    )
    azure_openai_api_key: SecretStr | None = Field(
        None, validation_alias=_env("AZURE_OPENAI_API_KEY", "AOAI_KEY")
    )
    openai_api_version: str = Field("2024-10-21", validation_alias=_env("OPENAI_API_VERSION"))
    azure_openai_chat_deployment: str = Field(
        "completions", validation_alias=_env("AZURE_OPENAI_CHAT_DEPLOYMENT")
    )
    azure_openai_embeddings_deployment: str = Field(
        "embeddings", validation_alias=_env("AZURE_OPENAI_EMBEDDINGS_DEPLOYMENT")
    )
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    openai_model: str = Field("gpt-4o-mini", validation_alias=_env("OPENAI_MODEL"))
    openai_embeddings_model: str = Field(
        "text-embedding-3-small", validation_alias=_env("OPENAI_EMBEDDINGS_MODEL")
    )

    max_context_messages: int = Field(
        40,
        ge=2,
        validation_alias=_env("COSMIC_WORKS_MAX_CONTEXT_MESSAGES"),
        description="History messages sent to the model per call; older ones are trimmed.",
    )
    recursion_limit: int = Field(12, ge=4, validation_alias=_env("COSMIC_WORKS_RECURSION_LIMIT"))

    api_keys: SecretStr | None = Field(None, validation_alias=_env("COSMIC_WORKS_API_KEYS"))
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "http://localhost:3000",
            "http://127.0.0.1:3000",
            "http://localhost:5173",
            "http://127.0.0.1:5173",
            "http://localhost:8000",
            "http://127.0.0.1:8000",
        ],
        validation_alias=_env("COSMIC_WORKS_CORS_ORIGINS"),
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                import json

                return json.loads(stripped)
            return [part.strip() for part in stripped.split(",") if part.strip()]
        return value

    @property
    def resolved_model(self) -> ModelProvider:
        """The chat model to use: the explicit choice, else the first configured provider."""
        if self.model is not None:
            return self.model
        if self.azure_openai_endpoint:
            return "azure_openai"
        if self.openai_api_key or self.openai_base_url:
            return "openai"
        return "offline"

    @property
    def resolved_checkpointer(self) -> CheckpointerBackend:
        if self.checkpointer is not None:
            return self.checkpointer
        return "mongodb" if self.store == "mongodb" else "sqlite"

    @property
    def sqlite_catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def sqlite_checkpoint_path(self) -> Path:
        return self.data_dir / "checkpoints.sqlite"

    @property
    def sqlite_sessions_path(self) -> Path:
        return self.data_dir / "sessions.sqlite"
