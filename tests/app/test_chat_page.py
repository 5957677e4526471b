"""The chat page as served (no browser): HTML, assets, headers, and nothing from elsewhere."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from app.routes.chat_page import ASSETS, PUBLIC_PATHS, STATIC_DIR

pytestmark = pytest.mark.timeout(900)

SUGGESTIONS = [
    "What was the price of the product with sku `FR-R92B-58`?",
    "What is the SKU of HL Road Frame - Black?",
    "What is HL Road Frame?",
]


class _Page(HTMLParser):
    """Collects suggestion texts, referenced URLs, labels and inline scripts/styles."""

    def __init__(self) -> None:
        super().__init__()
        self.suggestions: list[str] = []
        self.urls: list[str] = []
        self.label_targets: set[str] = set()
        self.ids: set[str] = set()
        self.live_regions: list[dict[str, str | None]] = []
        self.inline_code: list[str] = []
        self._in_suggestion = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "label" and found.get("for"):
            self.label_targets.add(str(found["for"]))
        if found.get("aria-live") or found.get("role") in ("log", "status", "alert"):
            self.live_regions.append(found)
        for name in ("href", "src", "action"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if "style" in found:
            self.inline_code.append(f"style attribute on <{tag}>")
        if tag == "script" and "src" not in found:
            self._in_script = True
        if tag == "button" and "suggestion" in (found.get("class") or ""):
            self._in_suggestion = True
            self.suggestions.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_suggestion = False
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_suggestion:
            self.suggestions[-1] += data
        if self._in_script and data.strip():
            self.inline_code.append("inline <script>")


async def test_root_still_answers_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_chat_serves_the_page_with_the_three_suggestions(client: httpx.AsyncClient) -> None:
    response = await client.get("/chat")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"

    page = _Page()
    page.feed(response.text)
    assert [text.strip() for text in page.suggestions] == SUGGESTIONS
    assert {"chat/static/chat.js", "chat/static/chat.css"} <= set(page.urls)
    assert not page.inline_code  # the CSP forbids inline code: everything is in the assets
    # Accessible: the question box and the key field are labelled, the answer area is live.
    assert {"prompt", "key-input"} <= page.label_targets
    assert page.label_targets <= page.ids
    log = next(region for region in page.live_regions if region.get("id") == "messages")
    assert log["role"] == "log" and log["aria-live"] == "polite"


async def test_relative_asset_urls_resolve_under_chat_static(client: httpx.AsyncClient) -> None:
    page_url = httpx.URL("http://testserver/chat")
    for reference in ("chat/static/chat.js", "chat/static/chat.css"):
        assert page_url.join(reference).path == f"/{reference}"
    redirect = await client.get("/chat/", follow_redirects=False)
    assert redirect.status_code in (307, 308)
    assert redirect.headers["location"].endswith("/chat")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("chat.js", "text/javascript; charset=utf-8"), ("chat.css", "text/css; charset=utf-8")],
)
async def test_assets_are_served_with_their_content_types(
    client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await client.get(f"/chat/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (STATIC_DIR / name).read_bytes()


@pytest.mark.parametrize("name", ["index.html", "../main.py", "missing.js", "chat.js.map"])
async def test_only_the_known_assets_are_served(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/chat/static/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("not_found", "http_error")


def test_static_files_reference_no_other_host() -> None:
    files = sorted(STATIC_DIR.iterdir())
    assert {path.name for path in files} == {"index.html", *ASSETS}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?i)https?://", text), f"{path.name} names an external URL"
        assert not re.search(r"""(?:src|href|url\()\s*=?\s*["']?//""", text), path.name
        assert "@import" not in text and "fonts.googleapis" not in text, path.name


def test_model_text_is_never_parsed_as_html() -> None:
    script = (STATIC_DIR / "chat.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


def test_page_and_assets_are_listed_as_public_paths() -> None:
    assert PUBLIC_PATHS == {"/chat", "/chat/static/chat.js", "/chat/static/chat.css"}
