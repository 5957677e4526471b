"""One settings object, read from the environment (and `.env`) once and passed down.

Our own variables carry the `COSMIC_WORKS_` prefix; provider variables keep their standard
names, and the original lab's names (`AOAI_ENDPOINT`, `AOAI_KEY`, `DB_CONNECTION_STRING`) are
accepted as aliases so existing deployments keep working.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ModelProvider = Literal["offline", "azure_openai", "openai"]
EmbeddingsProvider = Literal["local", "azure_openai", "openai"]
StoreBackend = Literal["sqlite", "mongodb"]
VectorSearchMode = Literal["atlas", "cosmos", "exact"]
CosmosIndexKind = Literal["vector-ivf", "vector-hnsw", "vector-diskann"]
CheckpointerBackend = Literal["sqlite", "memory", "mongodb"]


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


API_KEYS_VAR = "COSMIC_WORKS_API_KEYS"
MIN_API_KEY_CHARS = 16
_PRINCIPAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_API_KEY = re.compile(rf"[\x21-\x7e]{{{MIN_API_KEY_CHARS},512}}")  # visible ASCII, no space


def parse_api_keys(raw: str) -> dict[str, SecretStr]:
    """`name:key,name2:key2` as `{name: key}`; raises `ValueError` naming the variable.

    Messages never contain a key, nor an entry that failed to parse (it may be a bare key).
    Names are letters, digits and `_.@-`; keys are 16-512 visible ASCII characters without
    `,` (they may contain `:`); names and keys must be unique. An empty value is refused too:
    a deployment that meant to set keys must not start open.
    """
    entries = [entry.strip() for entry in raw.split(",")]
    entries = [entry for entry in entries if entry]
    if not entries:
        raise ValueError(
            f"{API_KEYS_VAR} is set but holds no name:key entry; unset it for open local mode"
        )
    principals: dict[str, SecretStr] = {}
    owners_of_key: dict[str, str] = {}
    for position, entry in enumerate(entries, start=1):
        where = f"{API_KEYS_VAR}: entry {position} of {len(entries)}"
        name, sep, key = (part.strip() for part in entry.partition(":"))
        if not sep or not name or not key:
            raise ValueError(f"{where} is not name:key (entries are separated by commas)")
        if not _PRINCIPAL_NAME.fullmatch(name):
            raise ValueError(
                f"{where}: the name must be 1-64 letters, digits or _.@- (starting with a "
                "letter or digit)"
            )
        if not _API_KEY.fullmatch(key):
            raise ValueError(
                f"{where} ({name!r}): the key must be {MIN_API_KEY_CHARS}-512 visible ASCII "
                "characters, without spaces or commas"
            )
        if name in principals:
            raise ValueError(f"{where}: the name {name!r} appears more than once")
        if key in owners_of_key:
            raise ValueError(
                f"{where}: {name!r} and {owners_of_key[key]!r} share one key; give each its own"
            )
        principals[name] = SecretStr(key)
        owners_of_key[key] = name
    return principals


class Settings(BaseSettings):
    """Every knob of the service. Build with `Settings()`; never at import time."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a bad value may be a secret: errors never echo it
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
    mongodb_timeout_s: float = Field(
        1.5,
        gt=0,
        validation_alias=_env("COSMIC_WORKS_MONGODB_TIMEOUT_S"),
        description="How long a MongoDB operation waits for an unreachable server "
        "(serverSelectionTimeoutMS, unless the URI sets it); then the request answers 503. "
        "Below /readyz's 2 s so that readiness names the server.",
    )
    checkpoint_ttl_s: int | None = Field(
        None,
        ge=60,
        validation_alias=_env("COSMIC_WORKS_CHECKPOINT_TTL_S"),
        description="MongoDB only: conversations unused for this many seconds expire "
        "(TTL indexes on checkpoints, writes and sessions). Unset: kept forever.",
    )
    vector_index_name: str = Field(
        "vector_index",
        min_length=1,
        validation_alias=_env("COSMIC_WORKS_VECTOR_INDEX_NAME", "COSMIC_WORKS_ATLAS_INDEX_NAME"),
        description="atlas/cosmos: name of the vector index on each collection.",
    )
    text_index_name: str = Field(
        "text_index",
        min_length=1,
        validation_alias=_env("COSMIC_WORKS_TEXT_INDEX_NAME"),
        description="atlas/cosmos: name of the products' full-text index (hybrid search).",
    )
    cosmos_index_kind: CosmosIndexKind = Field(
        "vector-hnsw", validation_alias=_env("COSMIC_WORKS_COSMOS_INDEX_KIND")
    )
    cosmos_num_lists: int = Field(
        1,
        ge=1,
        validation_alias=_env("COSMIC_WORKS_COSMOS_NUM_LISTS"),
        description="vector-ivf clusters: documentCount/1000 up to 1M documents (1 = exact).",
    )
    cosmos_m: int = Field(16, ge=2, le=100, validation_alias=_env("COSMIC_WORKS_COSMOS_M"))
    cosmos_ef_construction: int = Field(
        64, ge=4, le=1000, validation_alias=_env("COSMIC_WORKS_COSMOS_EF_CONSTRUCTION")
    )
    cosmos_max_degree: int = Field(
        32, ge=20, le=2048, validation_alias=_env("COSMIC_WORKS_COSMOS_MAX_DEGREE")
    )
    cosmos_l_build: int = Field(
        50, ge=10, le=500, validation_alias=_env("COSMIC_WORKS_COSMOS_L_BUILD")
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

    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        validation_alias=_env("COSMIC_WORKS_LOG_FORMAT"),
        description="`json`: one JSON object per line (the image's default); `text`: readable "
        "lines; `auto`: text when stderr is a terminal, else JSON.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("COSMIC_WORKS_LOG_LEVEL")
    )
    log_prompts: bool = Field(
        False,
        validation_alias=_env("COSMIC_WORKS_LOG_PROMPTS"),
        description="Also log prompts, answers and tool arguments (user data: off by default).",
    )

    api_keys: SecretStr | None = Field(
        None,
        validation_alias=_env(API_KEYS_VAR),
        description="`name:key,name2:key2`: every route but the probes needs a key; the name "
        "is the principal owning the sessions. Unset: open local mode.",
    )
    bind_host: str | None = Field(
        None,
        validation_alias=_env("COSMIC_WORKS_BIND_HOST"),
        description="The address the server listens on (set by `cosmic-works serve`); open "
        "mode on a non-loopback address logs a warning at startup.",
    )
    max_prompt_chars: int = Field(
        4000, ge=1, validation_alias=_env("COSMIC_WORKS_MAX_PROMPT_CHARS")
    )
    max_body_bytes: int = Field(
        65536, ge=1024, validation_alias=_env("COSMIC_WORKS_MAX_BODY_BYTES")
    )
    max_batch: int = Field(16, ge=1, validation_alias=_env("COSMIC_WORKS_MAX_BATCH"))
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_api_keys(value.get_secret_value())
        return value

    @property
    def api_principals(self) -> dict[str, SecretStr]:
        """`{principal name: key}` from `COSMIC_WORKS_API_KEYS`; empty in open local mode."""
        if self.api_keys is None:
            return {}
        return parse_api_keys(self.api_keys.get_secret_value())

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


def settings_error_message(exc: ValidationError) -> str:
    """One line naming the first invalid setting and the rule, never the value (a secret?)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"invalid setting {where}: {first['msg']}"
