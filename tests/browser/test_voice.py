"""Voice input as a person meets it on `make run`: Chromium's fake microphone (a beep),
Record voice, the elapsed time and level, Stop, the transcript in the composer; then the
message goes with a player of the recording. The shared browser has the fake device (its
launch arguments, tests/browser/conftest.py); this page's context grants the microphone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser


@pytest.fixture
def mic_page(browser, server_url):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", permissions=["microphone"]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def test_record_stop_and_the_transcript_is_in_the_composer(mic_page, server_url):
    page = mic_page
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    record = page.get_by_role("button", name="Record voice")
    expect(record).to_be_visible()
    record.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    stop = page.get_by_role("button", name="Stop", exact=True).first
    expect(stop).to_be_focused()
    # Two seconds: a second recording of the fake device can take a moment to deliver sound.
    expect(page.locator("#voice-elapsed")).to_have_text(re.compile(r"0:0[2-9]"), timeout=6_000)
    page.wait_for_function("document.getElementById('voice-level').value > 0", timeout=5_000)
    shot(page, "voice-01-recording")
    page.wait_for_timeout(800)
    page.keyboard.press("Enter")  # Stop, from the keyboard

    composer = page.get_by_label("Message")
    expect(composer).to_have_value(
        re.compile(r"Transcribed \d+\.\d seconds of audio\."), timeout=20_000
    )
    expect(page.locator("#voice-attached")).to_be_visible()
    shot(page, "voice-02-transcript")

    page.get_by_role("button", name="Send").click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    user = page.locator('[data-message-role="user"]').last
    audio = user.locator("audio")
    expect(audio).to_have_count(1)
    # The player's source plays: the browser reads its duration.
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-message-role=user] audio');"
        " return a && a.readyState >= 1; }",
        timeout=10_000,
    )
    expect(page.locator("#voice-attached")).to_be_hidden()
    assert page.console_errors == []


def test_cancel_throws_the_recording_away(mic_page, server_url):
    page = mic_page
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_role("button", name="Record voice").click()
    expect(page.locator("#voice-panel")).to_be_visible()
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("#voice-panel")).to_be_hidden()
    expect(page.get_by_role("button", name="Record voice")).to_be_visible()
    expect(page.get_by_label("Message")).to_have_value("")
    assert page.console_errors == []


def _record_a_moment(page) -> None:
    page.get_by_role("button", name="Record voice").click()
    # Two seconds: a second recording of the fake device can take a moment to deliver sound.
    expect(page.locator("#voice-elapsed")).to_have_text(re.compile(r"0:0[2-9]"), timeout=6_000)
    page.get_by_role("button", name="Stop", exact=True).first.click()


def test_auto_send_counts_down_and_any_key_cancels_it(mic_page, server_url):
    page = mic_page
    _setup_or_login(page, server_url)
    page.goto(server_url + "/accounts/settings/")
    page.get_by_label("Send voice messages by themselves after (seconds)").fill("2")
    page.get_by_role("button", name="Save settings").click()
    page.goto(server_url + "/")

    page.get_by_role("button", name="New chat").first.click()
    _record_a_moment(page)
    status = page.locator("#voice-status")
    expect(status).to_contain_text("Press any key to cancel", timeout=20_000)
    page.keyboard.press("Shift")
    expect(status).to_contain_text("Not sent")
    page.wait_for_timeout(2_500)
    expect(page.locator('[data-message-role="user"]')).to_have_count(0)

    # Chromium's fake microphone, opened a second time on a page, often delivers no sound (the
    # page then says "Nothing was heard"): the second recording starts on a fresh page.
    page.reload()
    _record_a_moment(page)  # this time, left alone: it sends itself
    user = page.locator('[data-message-role="user"]').last
    expect(user).to_contain_text("Transcribed", timeout=20_000)
    expect(user.locator("audio")).to_have_count(1)
    page.goto(server_url + "/accounts/settings/")
    page.get_by_label("Send voice messages by themselves after (seconds)").fill("0")
    page.get_by_role("button", name="Save settings").click()
    assert page.console_errors == []
