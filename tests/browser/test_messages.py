"""Messages of a team as a person sees them: the author's username on a shared conversation,
Details of a finished reply, editing in place (Cancel, Esc, Save) and the Markdown export."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import ADMIN, _setup_or_login

pytestmark = pytest.mark.browser
DIGITS = re.compile(r"^\d+$")


def _reply(page):
    return page.locator('[data-message-role="assistant"]').last


def test_details_edit_in_place_and_export(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_label("Message").fill("Show me a table of fruits")
    page.get_by_role("button", name="Send").click()
    reply = _reply(page)
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)

    # Details: model, tokens in and out, time to first token and duration.
    details = reply.get_by_role("button", name="Details")
    expect(details).to_have_attribute("aria-expanded", "false")
    details.click()
    panel = reply.locator(".message-details")
    expect(panel).to_be_visible()
    model = page.get_by_label("Model", exact=True).input_value()
    expect(panel).to_contain_text(model)
    for label in ("Tokens in", "Tokens out", "Time to first token", "Duration"):
        expect(panel).to_contain_text(label)
    for label in ("Tokens in", "Tokens out"):
        row = panel.locator("div", has=page.locator("dt", has_text=label))
        expect(row.locator("dd")).to_have_text(DIGITS)
    expect(panel.locator("dd.message-cost")).to_contain_text("USD")
    shot(page, "e4-details")

    # Edit in place: the bubble turns into the form; Cancel and Esc restore it unchanged.
    question = page.locator('[data-message-role="user"]').last
    question.hover()
    question.get_by_role("button", name="Edit").click()
    area = question.get_by_label("Edit your prompt")
    expect(area).to_be_focused()
    expect(question.locator(".message-body")).to_be_hidden()
    shot(page, "e4-edit-in-place")
    area.fill("Something else")
    question.get_by_role("button", name="Cancel").click()
    expect(area).to_be_hidden()
    expect(question.locator(".message-body")).to_have_text("Show me a table of fruits")
    question.get_by_role("button", name="Edit").click()
    expect(area).to_have_value("Show me a table of fruits")
    area.fill("Typed then dropped")
    area.press("Escape")
    expect(area).to_be_hidden()
    question.get_by_role("button", name="Edit").click()
    area.fill("Show me some code instead")
    question.get_by_role("button", name="Save").click()
    edited = page.locator('[data-message-role="user"]').last
    expect(edited.locator(".message-body")).to_have_text("Show me some code instead")
    expect(edited.locator(".sibling-position")).to_have_text("2 / 2")
    expect(_reply(page)).to_have_attribute("data-message-status", "complete", timeout=30_000)

    # Export offers Markdown, and the file has the messages of the thread shown.
    page.get_by_role("button", name="Export").click()
    markdown = page.get_by_role("link", name="Markdown")
    expect(markdown).to_be_visible()
    shot(page, "e4-export-menu")
    with page.expect_download() as download_info:
        markdown.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".md")
    text = download.path().read_text(encoding="utf-8")
    assert f"## {ADMIN}" in text
    assert "Show me some code instead" in text
    # The first version is not on this path: it stays only as the conversation's title.
    assert text.startswith("# Show me a table of fruits\n")
    assert text.count("Show me a table of fruits") == 1
    assert "## Assistant" in text
    assert not page.console_errors  # type: ignore[attr-defined]


def test_a_teammate_sees_who_asked(browser, page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_label("Message").fill("A question from the admin")
    page.get_by_role("button", name="Send").click()
    expect(_reply(page)).to_have_attribute("data-message-status", "complete", timeout=30_000)
    conversation_url = page.url
    page.get_by_role("button", name="Share with team").click()
    expect(page.get_by_role("button", name="Stop sharing")).to_be_visible()

    page.goto(server_url + "/accounts/team/")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Create invite link").click()
    invite_url = page.locator("[data-invite-url]").get_attribute("data-invite-url")
    assert invite_url

    guest = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        bob = guest.new_page()
        bob.goto(invite_url)
        bob.get_by_label("Username").fill("bob")
        bob.get_by_label("Password", exact=True).fill("another-long-passphrase")
        bob.get_by_label("Password confirmation").fill("another-long-passphrase")
        bob.get_by_role("button", name="Create account").click()
        expect(bob.get_by_role("button", name="New chat").first).to_be_visible()
        bob.goto(conversation_url)
        question = bob.locator('[data-message-role="user"]').last
        expect(question).to_contain_text("A question from the admin")
        expect(question.locator(".message-author")).to_have_text(ADMIN)
        expect(question.locator(".message-author")).to_be_visible()
        box = question.locator(".message-author").bounding_box()
        assert box and box["width"] > 20  # shown, not only read out by screen readers
        shot(bob, "e4-author-shown")
    finally:
        guest.close()


def test_the_theme_toggle_saves_to_the_settings(page, server_url):
    _setup_or_login(page, server_url)
    page.emulate_media(color_scheme="light")
    html = page.locator("html")
    # The toggle saves in the background: leave the page only once the save has answered
    # (under load the next page was read before it, and showed the old theme).
    with page.expect_response(lambda response: "/accounts/settings/theme/" in response.url):
        page.get_by_role("button", name="Toggle dark mode").click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.goto(server_url + "/accounts/settings/")
    expect(html).to_have_attribute("data-theme", "dark")  # rendered by the server
    expect(page.get_by_label("Theme")).to_have_value("dark")
    shot(page, "e4-settings-dark")
    page.get_by_label("Theme").select_option("system")
    page.get_by_label("Display name").fill("The Admin")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(html).not_to_have_attribute("data-theme", "dark")
