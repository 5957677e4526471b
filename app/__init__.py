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
        from app.main import create_app

        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(f"module 'app' has no attribute {name!r}")
