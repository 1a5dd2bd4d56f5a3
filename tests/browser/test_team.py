"""Team contract as a person uses it: invite a teammate, share a conversation, new team."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser


def test_an_invited_teammate_joins_and_reads_a_shared_conversation(browser, page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_label("Message").fill("Notes for the team")
    page.get_by_role("button", name="Send").click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    conversation_url = page.url
    page.get_by_role("button", name="Share with team").click()
    expect(page.get_by_role("button", name="Stop sharing")).to_be_visible()

    page.get_by_role("link", name="Team", exact=True).click()
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Create invite link").click()
    invite_url = page.locator("[data-invite-url]").get_attribute("data-invite-url")
    assert invite_url and "/invite/" in invite_url

    guest = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = guest.new_page()
        other.goto(invite_url)
        other.get_by_label("Username").fill("bea")
        other.get_by_label("Password", exact=True).fill("another-long-passphrase")
        other.get_by_label("Password confirmation").fill("another-long-passphrase")
        other.get_by_role("button", name="Create account").click()
        expect(other.get_by_role("button", name="New chat").first).to_be_visible()

        other.goto(conversation_url)
        expect(other.locator('[data-message-role="assistant"]').last).to_have_attribute(
            "data-message-status", "complete"
        )
        expect(other.get_by_label("Message")).to_have_count(0)  # read-only for her
        other.get_by_role("button", name="Continue in my own copy").click()
        expect(other.get_by_label("Message")).to_be_visible()
        assert other.url != conversation_url
    finally:
        guest.close()


def test_a_user_creates_a_second_team(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("link", name="Team", exact=True).click()
    page.get_by_role("button", name="New team").or_(
        page.get_by_role("link", name="New team")
    ).first.click()
    page.get_by_label("Name").fill("Research")
    page.get_by_role("button", name="Create team").click()
    page.get_by_role("link", name="Team", exact=True).click()
    expect(page.get_by_role("heading", name="Research")).to_be_visible()
