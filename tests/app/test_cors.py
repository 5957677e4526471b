"""CORS follows COSMIC_WORKS_CORS_ORIGINS: localhost dev origins by default, never `*` with
credentials."""

from __future__ import annotations

import httpx
import pytest

from app.main import create_app
from core.settings import Settings

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


async def _preflight(settings: Settings, origin: str) -> httpx.Response:
    app = create_app(settings)  # CORS needs no lifespan
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.options("/ai", headers={"Origin": origin, **PREFLIGHT})


async def test_default_allows_local_frontends_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, data_dir=tmp_path)
    allowed = await _preflight(settings, "http://localhost:3000")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    denied = await _preflight(settings, "https://evil.example")
    assert "access-control-allow-origin" not in denied.headers


@pytest.mark.parametrize(
    "value", ["https://shop.example, https://admin.example", '["https://shop.example"]']
)
async def test_configured_origins(tmp_path, monkeypatch, value: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COSMIC_WORKS_CORS_ORIGINS", value)
    settings = Settings(_env_file=None, data_dir=tmp_path)
    ok = await _preflight(settings, "https://shop.example")
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert (
        "access-control-allow-origin"
        not in (await _preflight(settings, "http://localhost:3000")).headers
    )


async def test_wildcard_never_sends_credentials(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COSMIC_WORKS_CORS_ORIGINS", "*")
    settings = Settings(_env_file=None, data_dir=tmp_path)
    response = await _preflight(settings, "https://anywhere.example")
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
