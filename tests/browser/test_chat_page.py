"""The chat page in a real browser: headless Debian Chromium driven by Playwright's Python API
against a real uvicorn serving the app over a copy of the sample catalog.

Playwright never downloads a browser here: it starts the system's `/usr/bin/chromium`
(Debian packages `chromium` and `chromium-driver`, installed by `.ci/run` when missing). Without
it the test is skipped locally, and fails when `CI` or `COSMIC_WORKS_REQUIRE_BROWSER` is set.
The screenshots go to `test-artifacts/` at the repository root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import ROOT, uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
QUESTION = "What was the price of the product with sku `FR-R92B-58`?"
TIMEOUT_MS = 60_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = (
        f"{CHROMIUM} not found: install Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver); .ci/run does it in CI"
    )
    if os.environ.get("CI") or os.environ.get("COSMIC_WORKS_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


API_KEY = "browser-test-key-0123456789"


def _data_dir(tmp_path: Path, sample_store_path: Path) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sample_store_path, data_dir / "catalog.sqlite")
    return data_dir


@pytest.fixture
def base_url(tmp_path: Path, sample_store_path: Path) -> Iterator[str]:
    """A real uvicorn (open local mode) over a copy of the loaded sample catalog."""
    with uvicorn_server(_data_dir(tmp_path, sample_store_path)) as url:
        yield url


@pytest.fixture
def broken_model_base_url(tmp_path: Path, sample_store_path: Path) -> Iterator[str]:
    """The same with an OpenAI-compatible model on a port where nothing listens."""
    env = {
        "COSMIC_WORKS_MODEL": "openai",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "COSMIC_WORKS_MODEL_MAX_RETRIES": "0",
        "COSMIC_WORKS_MODEL_TIMEOUT": "5",
    }
    with uvicorn_server(_data_dir(tmp_path, sample_store_path), env=env) as url:
        yield url


@pytest.fixture
def keyed_base_url(tmp_path: Path, sample_store_path: Path) -> Iterator[str]:
    """The same with API keys on (`COSMIC_WORKS_API_KEYS`)."""
    env = {"COSMIC_WORKS_API_KEYS": f"tester:{API_KEY}"}
    with uvicorn_server(_data_dir(tmp_path, sample_store_path), env=env) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    _require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


def test_ask_stream_reload_and_delete_in_the_chat_page(browser: Any, base_url: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)  # the first model call loads the embeddings
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1180, "height": 760})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{base_url}/chat")
    expect(page.get_by_role("heading", name="Cosmic Works assistant")).to_be_visible()
    expect(page.get_by_role("button", name=QUESTION)).to_be_visible()
    expect(page.locator("#sessions-status")).to_have_text("No conversations yet.")

    page.get_by_role("button", name=QUESTION).click()

    answer = page.locator(".message.assistant").last
    expect(answer).to_contain_text("$1431.50")
    expect(answer.locator(".price").first).to_have_text("$1431.50")
    expect(answer.locator(".tool-name")).to_have_text("get_product_by_sku")
    expect(answer.locator(".tool-args")).to_contain_text("FR-R92B-58")
    expect(answer.locator('.tool[data-state="done"]')).to_have_count(1)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    expect(page.locator(".message.user").last).to_contain_text("FR-R92B-58")
    session_id = page.evaluate("localStorage.getItem('cosmicWorks.sessionId')")
    assert session_id and len(session_id) == 32

    # A follow-up in the same session, typed into the box.
    page.get_by_label("Your question").fill("What is the SKU of HL Road Frame - Black?")
    page.get_by_label("Your question").press("Enter")
    expect(page.locator(".message.assistant")).to_have_count(2)
    expect(page.locator(".message.assistant").last.locator(".content li")).to_have_count(4)
    expect(page.locator("#send")).to_have_text("Send")
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # Reload: the session is listed, current, and its history comes back.
    page.reload()
    item = page.locator(f'.session-item[data-id="{session_id}"]')
    expect(item).to_contain_text("FR-R92B-58")
    expect(item).to_have_attribute("aria-current", "true")
    expect(page.locator(".message.user")).to_have_count(2)
    expect(page.locator(".message.assistant").first).to_contain_text("$1431.50")
    expect(page.locator("#intro")).to_be_hidden()

    # A new chat, then open the old one from the list.
    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator("#intro")).to_be_visible()
    item.locator(".session-open").click()
    expect(page.locator(".message.assistant").first).to_contain_text("$1431.50")

    # Narrow screen: the list moves into a drawer.
    page.set_viewport_size({"width": 390, "height": 760})
    expect(page.locator("#sidebar")).to_be_hidden()
    page.get_by_role("button", name="Conversations").click()
    expect(page.locator("#sidebar")).to_be_visible()
    expect(item.locator(".session-open")).to_be_focused()
    page.screenshot(path=str(ARTIFACTS / "chat-narrow.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.get_by_role("button", name="Conversations")).to_be_focused()
    page.set_viewport_size({"width": 1180, "height": 760})

    # Delete it (accepting the confirmation): gone from the list and from the server.
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Delete conversation: " + QUESTION).click()
    expect(page.locator(".session-item")).to_have_count(0)
    expect(page.locator(".message")).to_have_count(0)
    assert page.evaluate("localStorage.getItem('cosmicWorks.sessionId')") is None
    assert not problems, problems  # no script error, no CSP violation, no failed request
    status = page.evaluate("async (id) => (await fetch('session/load/' + id)).status", session_id)
    assert status == 404
    assert all(url.startswith(base_url) for url in requested), requested
    context.close()


def test_the_page_asks_for_the_api_key_once_and_keeps_it(browser: Any, keyed_base_url: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1180, "height": 760})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sent_keys: list[str | None] = []
    page.on(
        "request",
        lambda request: (
            sent_keys.append(request.headers.get("authorization"))
            if "/session/" in request.url or "/ai/" in request.url
            else None
        ),
    )

    # The page is public; its first API call answers 401 and the key dialog opens.
    page.goto(f"{keyed_base_url}/chat")
    dialog = page.get_by_role("dialog", name="API key")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("API key is required")
    dialog.get_by_label("Key").fill("wrong-key-0123456789abcdef")
    with page.expect_response(lambda response: "session/list" in response.url) as refused:
        dialog.get_by_role("button", name="Save").click()
    assert refused.value.status == 401
    expect(dialog).to_be_visible()  # a refused key: asked again
    dialog.get_by_label("Key").fill(API_KEY)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#sessions-status")).to_have_text("No conversations yet.")

    page.get_by_role("button", name=QUESTION).click()
    expect(page.locator(".message.assistant").last).to_contain_text("$1431.50")
    assert f"Bearer {API_KEY}" in sent_keys

    # Reload: the key is remembered, nothing is asked, the session is there.
    page.reload()
    expect(page.locator(".session-item")).to_have_count(1)
    expect(page.locator(".message.assistant").first).to_contain_text("$1431.50")
    expect(dialog).to_be_hidden()
    assert page.evaluate("localStorage.getItem('cosmicWorks.apiKey')") == API_KEY
    page.screenshot(path=str(ARTIFACTS / "chat-with-key.png"))
    assert not errors, errors
    context.close()


def test_errors_are_shown_plainly(browser: Any, broken_model_base_url: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1180, "height": 760})
    page = context.new_page()
    page.goto(f"{broken_model_base_url}/chat")

    # The model cannot be reached: the stream's `error` event is shown in the reply.
    page.get_by_role("button", name="What is HL Road Frame?").click()
    reply = page.locator(".message.assistant").last
    expect(reply.locator(".error-text")).to_contain_text("(model_unavailable)")
    expect(reply).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#send")).to_have_text("Send")

    # A refused request (non-2xx JSON): its message and code are shown too.
    page.evaluate("document.getElementById('prompt').removeAttribute('maxlength')")
    page.get_by_label("Your question").fill("x" * 5000)
    page.get_by_label("Your question").press("Enter")
    expect(page.locator(".message.assistant").last.locator(".error-text")).to_contain_text(
        "(invalid_request)"
    )
    page.screenshot(path=str(ARTIFACTS / "chat-errors.png"))
    context.close()
