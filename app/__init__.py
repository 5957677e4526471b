"""HTTP surface of the Cosmic Works agent. `uvicorn app:app` serves it, as in the original lab.

`app` is created on first access (module `__getattr__`), so importing `app.cli` for `load` or
`ask` does not build the web application.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    app: FastAPI


def __getattr__(name: str) -> Any:
    if name == "app":
        from pydantic import ValidationError

        from app.main import create_app
        from core.settings import settings_error_message

        try:
            application = create_app()
        except ValidationError as exc:
            # `uvicorn app:app` (the image's command) with a bad environment: one line and
            # exit status 1, as `cosmic-works serve` does, instead of an import traceback.
            raise SystemExit(f"error: {settings_error_message(exc)}") from None
        globals()["app"] = application
        return application
    raise AttributeError(f"module 'app' has no attribute {name!r}")
