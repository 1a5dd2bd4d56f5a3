"""Search by meaning in the browser: a message is found by a paraphrase that shares none of
its exact wording, the hit is labelled "by meaning", and it opens the conversation at the
message. The server is what `make run` starts: its embedder and the demo gateway's
embeddings."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import _assistant, _setup_or_login

pytestmark = pytest.mark.browser

CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]+/$")


def test_search_finds_a_message_by_a_paraphrase(page, server_url):
    _setup_or_login(page, server_url)
    page.goto(server_url + "/")
    page.get_by_label("Message").fill("Our holiday plans for the summer trip to Portugal")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(CONVERSATION_URL)
    expect(_assistant(page)).to_have_attribute("data-message-status", "complete", timeout=30_000)

    search = page.get_by_label("Search conversations")
    hit = page.locator('.search-hit[data-search-kind="meaning"]', has_text="Portugal").first
    deadline = time.monotonic() + 40  # the embedder works in the background
    while True:
        search.fill("")
        search.fill("planning a summer holiday")
        try:
            expect(hit).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    expect(hit.locator(".search-kind")).to_have_text("by meaning")
    words = page.locator('.search-hit[data-search-kind="words"]', has_text="Portugal")
    expect(words).to_have_count(0)  # no exact match: found by meaning only
    shot(page, "search-meaning")

    hit.locator("a").click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]+/#message-\d+$"))
    target = page.url.rsplit("#", 1)[1]
    expect(page.locator(f"#{target}")).to_contain_text("Portugal")
    assert page.console_errors == []  # type: ignore[attr-defined]
