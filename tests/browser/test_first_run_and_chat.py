"""A new install, as a person meets it: first-run setup, a streamed reply, a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser

ADMIN = "admin"
PASSWORD = "a-long-and-unusual-passphrase"


def _setup_or_login(page, server_url: str) -> None:
    page.goto(server_url + "/")
    if "/setup/" in page.url:
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password confirmation").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
    elif "/login/" in page.url:
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
    expect(
        page.get_by_role("button", name="New chat")
        .or_(page.get_by_role("link", name="New chat"))
        .first
    ).to_be_visible()


def _assistant(page):
    return page.locator('[data-message-role="assistant"]').last


def test_first_run_then_a_streamed_reply_survives_a_reload(page, server_url):
    page.goto(server_url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/setup/"))
    shot(page, "01-setup")
    _setup_or_login(page, server_url)

    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    expect(page.get_by_label("Model", exact=True)).to_be_visible()
    page.get_by_label("Message").fill("What can you show me?")
    page.get_by_role("button", name="Send").click()

    expect(page.locator('[data-message-role="user"]').last).to_contain_text("What can you show me?")
    reply = _assistant(page)
    expect(reply).to_have_attribute("data-message-status", "streaming")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()

    # The reply arrives in pieces: sample its length while it streams.
    lengths = []
    for _ in range(200):
        if reply.get_attribute("data-message-status") != "streaming":
            break
        lengths.append(len(reply.inner_text()))
        page.wait_for_timeout(25)
    shot(page, "02-streaming")
    distinct = sorted({n for n in lengths if n > 0})
    assert len(distinct) >= 3, f"expected the reply to grow in pieces, saw lengths {lengths}"

    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    final_text = reply.inner_text()
    assert "demo gateway" in final_text.lower()
    expect(reply.locator(".codeblock")).to_have_count(1)
    expect(reply.locator(".math .katex").first).to_be_visible()  # KaTeX typeset the maths
    expect(page.get_by_role("button", name="Regenerate", exact=True)).to_be_visible()
    expect(page.locator("#live-region")).not_to_be_empty()
    shot(page, "03-complete")

    page.reload()
    stored = _assistant(page)
    expect(stored).to_have_attribute("data-message-status", "complete")
    assert stored.inner_text() == final_text
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_enter_sends_and_stop_keeps_the_partial_reply(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    composer = page.get_by_label("Message")
    composer.fill("Tell me something long [demo:slow]")
    composer.press("Enter")

    reply = _assistant(page)
    expect(reply).to_have_attribute("data-message-status", "streaming")
    expect(reply.locator(".message-text")).not_to_be_empty(timeout=10_000)
    page.get_by_role("button", name="Stop").click()
    expect(reply).to_have_attribute("data-message-status", "stopped", timeout=10_000)
    partial = reply.inner_text()
    assert partial.strip()

    page.reload()
    expect(_assistant(page)).to_have_attribute("data-message-status", "stopped")


def test_phone_layout_and_dark_theme(browser, server_url):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        page.get_by_role("button", name="New chat").or_(
            page.get_by_role("link", name="New chat")
        ).first.click()
        expect(page.get_by_label("Message")).to_be_visible()
        box = page.get_by_label("Message").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        shot(page, "04-phone-dark")
        toggle = page.get_by_role("button", name="Toggle dark mode")
        # The toggle saves in the background: reload only once the save has answered.
        with page.expect_response(lambda response: "/accounts/settings/theme/" in response.url):
            toggle.click()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")  # remembered
    finally:
        context.close()


def test_a_reasoning_model_shows_its_thinking_then_answers(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    page.get_by_label("Message").fill("Why is the sky blue? [demo:reasoning]")
    page.get_by_role("button", name="Send").click()

    reply = _assistant(page)
    thoughts = reply.locator("details.reasoning")
    expect(thoughts).to_be_visible()
    expect(thoughts).to_contain_text("The user wants")
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(reply.locator("details.reasoning")).to_have_count(1)
    expect(reply.locator(".codeblock")).to_have_count(1)


def test_copy_buttons_put_the_code_on_the_clipboard(browser, server_url):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        page.get_by_role("button", name="New chat").first.click()
        page.get_by_label("Message").fill("Show me code [demo:normal]")
        page.get_by_role("button", name="Send").click()
        reply = _assistant(page)
        expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
        reply.get_by_role("button", name="Copy code").click()
        expect(reply.locator(".codeblock button.is-copied")).to_have_count(1)
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.strip() == reply.locator(".codeblock code").inner_text().strip()
        assert "def fibonacci" in copied

        # The message's own Copy gives its markdown: the fence and its language too.
        reply.locator(".message-actions").get_by_role("button", name="Copy").click()
        expect(reply.locator(".message-actions .copy-btn.is-copied")).to_have_count(1)
        whole = page.evaluate("navigator.clipboard.readText()")
        assert "```python" in whole and "def fibonacci" in whole
    finally:
        context.close()


def test_a_message_sent_before_htmx_has_loaded_is_sent_once_it_has(page, server_url):
    """On a slow load the composer is on screen before the deferred htmx is: a send then must
    neither go out as a plain GET (the text in the address bar, nothing sent) nor be lost."""
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]+/$"))
    conversation_url = page.url

    held = []
    page.route("**/htmx-*.min.js", lambda route: held.append(route))
    page.goto(conversation_url, wait_until="commit")
    composer = page.get_by_label("Message")
    composer.fill("Sent while htmx was still loading")
    page.get_by_role("button", name="Send").click()
    page.wait_for_timeout(300)  # a plain GET would have left by now
    assert page.url == conversation_url
    assert len(held) == 1, "htmx loaded before the send; the test proves nothing"
    held[0].continue_()

    user = page.locator('[data-message-role="user"]').last
    expect(user).to_contain_text("Sent while htmx was still loading")
    expect(_assistant(page)).to_have_attribute("data-message-status", "complete", timeout=30_000)
    assert page.url == conversation_url
    expect(page.locator('[data-message-role="user"]')).to_have_count(1)
