"""What chat models send back besides text, as a person meets it on `make run`: gpt-4-all
draws (the pictures shown are our copies; a private link is a note), suno-v3.5 makes a song
(one progress line, then a player card), and a GPT added on the Team page is picked by name."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

REPLY_TIMEOUT = 60_000
SHOTS = Path(os.environ.get("PARLOR_SHOTS", "")) if os.environ.get("PARLOR_SHOTS") else None


def _shot(page, name: str) -> None:
    shot(page, name)
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _new_chat(page, server_url: str, model: str) -> None:
    page.goto(server_url + "/")
    page.get_by_label("Model", exact=True).select_option(model)
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]+/$"))
    expect(page.locator('[data-message-role="assistant"]').last).to_have_attribute(
        "data-message-status", "complete", timeout=REPLY_TIMEOUT
    )


def _ask(page, text: str):
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "streaming")
    return reply


def test_a_drawing_shows_our_copies_and_a_song_its_card(page, server_url):
    _setup_or_login(page, server_url)
    _new_chat(page, server_url, "gpt-4-all")

    reply = _ask(page, "draw a lighthouse, with a private link")
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=REPLY_TIMEOUT)
    pictures = reply.locator(".message-body img")
    expect(pictures).to_have_count(2)
    for src in pictures.evaluate_all("els => els.map(e => e.getAttribute('src'))"):
        assert re.fullmatch(r"/c/[0-9a-f-]+/attachments/\d+/file/", src)
    page.wait_for_function(  # our copies load (they may still be on their way)
        """() => Array.from([...document.querySelectorAll('[data-message-role="assistant"]')]
            .at(-1).querySelectorAll('.message-body img'))
            .every(e => e.complete && e.naturalWidth > 0)"""
    )
    expect(reply).to_contain_text("The image at 10.0.0.1 could not be copied.")
    _shot(page, "reply-files-01-drawing")

    page.get_by_label("Model", exact=True).select_option("suno-v3.5")
    page.wait_for_timeout(300)  # the settings form posts the change
    reply = _ask(page, "a song about the sea")
    expect(reply.locator(".message-status")).to_contain_text("Making the song", timeout=10_000)
    _shot(page, "reply-files-02-progress")
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=REPLY_TIMEOUT)
    assert "🎵" not in reply.inner_text()
    card = reply.locator(".reply-song")
    expect(card.locator("audio")).to_have_count(1)
    expect(card.locator("img.job-cover")).to_be_visible()
    expect(card.get_by_role("link", name="Download", exact=True)).to_be_visible()
    card.scroll_into_view_if_needed()
    if SHOTS is not None:
        card.screenshot(path=str(SHOTS / "reply-files-03b-card.png"))
    _shot(page, "reply-files-03-song")
    assert page.console_errors == []


def test_a_gpt_added_on_the_team_page_is_picked_by_name(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("link", name="Team").first.click()
    page.get_by_role("link", name="GPTs the team can chat with").click()
    page.get_by_label("ChatGPT link or GPT id").fill("https://chatgpt.com/g/g-demo-the-demo-gpt")
    page.get_by_label("Name").fill("Demo Helper")
    page.get_by_label("Description").fill("Answers like any demo model")
    page.get_by_role("button", name="Add the GPT").click()
    expect(page.locator(".gpt-item")).to_contain_text("Demo Helper")
    _shot(page, "reply-files-04-gpts")

    page.goto(server_url + "/")
    group = page.locator('#home-model optgroup[label="GPTs"]')
    expect(group.locator("option")).to_have_text(["Demo Helper"])
    _new_chat(page, server_url, "gpt-4-gizmo-g-demo")
    expect(page.locator(".conversation-gpt")).to_contain_text("GPT: Demo Helper")
    expect(page.locator('[data-message-role="assistant"]').last).to_contain_text("Demo GPT")
    _shot(page, "reply-files-05-gpt-chat")
    assert page.console_errors == []
