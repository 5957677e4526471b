"""Fixtures of the ecosystem tests: the HTTP tests' app fixtures (tests/app/conftest.py)."""

from __future__ import annotations

from tests.app.conftest import (  # noqa: F401 - re-exported as fixtures of this directory
    app,
    client,
    data_dir,
    sample_catalog_file,
    settings,
)
