"""Read aloud as a person uses it: a finished reply's "Read aloud" button starts playing its
audio (bought through the demo gateway), pressing it again stops; the Settings page plays a
sample of the chosen voice."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser


def test_read_aloud_plays_a_reply_and_stops(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_label("Message").fill("Explain recursion with a short example")
    page.get_by_role("button", name="Send").click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)

    button = reply.get_by_role("button", name="Read aloud")
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    expect(reply).to_have_attribute("data-speech-state", "playing", timeout=15_000)
    expect(button).to_have_attribute("aria-pressed", "true")
    audio = reply.locator("audio.speech-audio").first
    page.wait_for_function("el => el.currentTime > 0.2", arg=audio.element_handle(), timeout=15_000)
    shot(page, "read-aloud-playing")
    button.click()
    expect(reply).to_have_attribute("data-speech-state", "idle")
    expect(reply.locator("audio.speech-audio")).to_have_count(0)
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_settings_play_a_sample(page, server_url):
    _setup_or_login(page, server_url)
    page.goto(server_url + "/accounts/settings/")
    page.get_by_label("Voice", exact=True).select_option("nova")
    sample = page.get_by_role("button", name="Play a sample")
    sample.click()
    expect(sample).to_have_attribute("data-speech-state", "playing", timeout=15_000)
    shot(page, "read-aloud-settings")
    assert page.console_errors == []  # type: ignore[attr-defined]
