"""Checkpointer backends for the graph tests: the same tests run on memory, SQLite and MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import CheckpointerBackend, Settings

SettingsFor = Callable[[CheckpointerBackend], Settings]


@pytest.fixture
def checkpointer_settings_for(request: pytest.FixtureRequest, tmp_path: Path) -> SettingsFor:
    """`checkpointer_settings_for(backend)`: settings opening that checkpointer for this test.

    MongoDB uses the session's SecantusDB server (started only when a test asks for it) and a
    database of the test's own.
    """

    def settings_for(backend: CheckpointerBackend) -> Settings:
        if backend != "mongodb":
            return Settings(_env_file=None, data_dir=tmp_path, checkpointer=backend)
        return Settings(
            _env_file=None,
            data_dir=tmp_path,
            checkpointer="mongodb",
            mongodb_uri=request.getfixturevalue("mongodb_uri"),
            mongodb_database=request.getfixturevalue("mongodb_database"),
        )

    return settings_for
