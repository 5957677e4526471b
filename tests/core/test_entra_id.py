"""Entra ID token providers: the async one never runs the credential on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from core import entra_id


async def test_async_provider_fetches_the_token_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, str]] = []

    def fake_bearer_token_provider(credential: Any, scope: str) -> Callable[[], str]:
        def provider() -> str:
            calls.append((scope, threading.current_thread().name))
            return "token-123"

        return provider

    import azure.identity

    monkeypatch.setattr(azure.identity, "get_bearer_token_provider", fake_bearer_token_provider)
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda: object())
    sync_provider, async_provider = entra_id.entra_id_token_providers()
    assert calls == []  # building the providers fetches nothing

    loop_thread = threading.current_thread().name
    assert await async_provider() == "token-123"
    assert calls[0][0] == entra_id.AZURE_COGNITIVE_SERVICES_SCOPE
    assert calls[0][1] != loop_thread
    assert sync_provider() == "token-123"
    assert calls[1][1] == loop_thread
    assert asyncio.iscoroutinefunction(async_provider)
