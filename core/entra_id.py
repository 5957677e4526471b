"""Microsoft Entra ID bearer tokens for Azure OpenAI, shared by the chat model and embeddings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

AZURE_COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


def entra_id_token_providers() -> tuple[Callable[[], str], Callable[[], Awaitable[str]]]:
    """Sync and async token providers from `DefaultAzureCredential` (no network until used).

    The async provider runs the sync one in a worker thread: azure-identity's async
    credentials need aiohttp, and a token refresh must never block the event loop (the
    openai SDK calls a sync provider inline, on the loop, when no async one is given).
    """
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    sync_provider = get_bearer_token_provider(
        DefaultAzureCredential(), AZURE_COGNITIVE_SERVICES_SCOPE
    )

    async def async_provider() -> str:
        return await asyncio.to_thread(sync_provider)

    return sync_provider, async_provider
