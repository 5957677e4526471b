"""The built-in chat page: `GET /chat` and its two assets, from `app/static/chat/`.

No build step and nothing fetched from elsewhere: plain HTML, CSS and JavaScript that talk to
`/ai/stream` and `/session/*` on the same origin. Asset URLs are relative (`chat/static/...`),
so the page also works behind a proxy that serves the API under a path prefix.

The page and its assets hold no data; with API keys on, they must stay public (the page asks
for the key and sends it as `Authorization: Bearer` on its API calls): `PUBLIC_PATHS`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "chat"
PAGE_PATH = "/chat"
ASSET_PREFIX = "/chat/static/"
ASSETS = {
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
}
PUBLIC_PATHS = frozenset({PAGE_PATH, *(ASSET_PREFIX + name for name in ASSETS)})

# Same-origin everything: no inline script or style, no frames, no other hosts.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["chat page"])


@router.get(PAGE_PATH, include_in_schema=False)
async def chat_page() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={**_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


@router.get(ASSET_PREFIX + "{name}", include_in_schema=False)
async def chat_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"No asset {name!r}.")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=_HEADERS)
