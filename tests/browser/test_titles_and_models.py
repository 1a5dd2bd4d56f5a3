"""A model titles the conversation after its first reply (the sidebar and the heading follow
without a reload), and a reply is regenerated with another model from the menu beside
Regenerate, by keyboard, kept as a second version whose switcher names its model. Screenshots of
the open menu at 1280 and 390 wide, light and dark."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("PARLOR_SHOTS") or ARTIFACTS / "titles")
SIZES = {"wide": (1280, 800), "phone": (390, 844)}
QUESTION = "Could you please explain how photosynthesis works in green plants?"
TITLE = "Photosynthesis works green plants"  # what the demo gateway's title request answers


def _reply(page):
    return page.locator('[data-message-role="assistant"]').last


def _open_menu(page, reply):
    button = reply.get_by_role("button", name="Regenerate with another model")
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    menu = reply.locator(".regen-menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("button").first).to_be_focused()
    return menu


def _shots(page, reply) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            button = reply.get_by_role("button", name="Regenerate with another model")
            if button.get_attribute("aria-expanded") == "true":
                page.keyboard.press("Escape")
            # As a person sees it: the row in the middle of the screen, not under the composer.
            button.evaluate("b => b.scrollIntoView({block: 'center'})")
            _open_menu(page, reply)
            page.screenshot(path=str(SHOTS / f"regenerate-menu-{size}-{scheme}.png"))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme="light")


def test_the_title_is_written_by_the_model_and_a_reply_is_regenerated_with_another(
    page, server_url
):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_label("Message").fill(QUESTION)
    page.get_by_role("button", name="Send").click()
    reply = _reply(page)
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)

    # The first line first, then the model's title, in the heading and the sidebar.
    current = page.locator('.conversation-link[aria-current="page"] .conversation-title')
    expect(current).to_have_text(TITLE, timeout=15_000)
    expect(page.locator("#conversation-title")).to_have_text(TITLE)
    expect(page).to_have_title(re.compile(TITLE))  # the browser tab's title too
    page.reload()
    expect(current).to_have_text(TITLE)
    reply = _reply(page)

    # The menu beside Regenerate, by keyboard: Enter opens it on the first model, arrows move,
    # Esc closes it and gives the focus back.
    button = reply.get_by_role("button", name="Regenerate with another model")
    button.focus()
    page.keyboard.press("Enter")
    menu = reply.locator(".regen-menu")
    expect(menu).to_be_visible()
    options = menu.get_by_role("button")
    expect(options.first).to_be_focused()
    expect(options.first).to_contain_text("gpt-4o-mini")
    expect(options.first).to_contain_text("this version")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    # Tab walks into the open menu; Shift+Tab back past the button closes it.
    page.keyboard.press("Enter")
    expect(options.first).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(button).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(menu).to_be_hidden()

    _shots(page, reply)

    menu = _open_menu(page, reply)
    menu.get_by_role("button", name="demo-fast").click()
    second = _reply(page)
    switcher = second.locator(".sibling-switcher")
    expect(switcher.locator(".sibling-position")).to_have_text("2 / 2")  # the new version
    expect(second).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(switcher.locator(".sibling-model")).to_have_text("demo-fast")
    expect(switcher).to_have_attribute("aria-label", "Versions")
    switcher.evaluate("s => s.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(SHOTS / "versions-wide-light.png"))
    # The conversation's own model did not change.
    expect(page.locator("#model-select")).to_have_value("gpt-4o-mini")

    # The first version still names its model.
    second.get_by_role("button", name="Previous version").click()
    first = _reply(page)
    expect(first.locator(".sibling-position")).to_have_text("1 / 2")
    expect(first.locator(".sibling-model")).to_have_text("gpt-4o-mini")
    # The title was not asked for again.
    expect(page.locator("#conversation-title")).to_have_text(TITLE)
