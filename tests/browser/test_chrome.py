"""The chrome of the product, as a person meets it: home is a composer, the tab title follows
the conversation, the keyboard stops a reply, opens a chat and reaches search, the phone keeps
the conversation header in reach. Screenshots of home go
to screenshots/ (git-ignored) for review."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_first_run_and_chat import _assistant, _setup_or_login

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "screenshots"
CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]+/$")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _send_from_home(page, server_url: str, text: str) -> None:
    page.goto(server_url + "/")
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(CONVERSATION_URL)


def test_home_composer_sends_and_the_reply_streams_in_the_new_conversation(page, server_url):
    _setup_or_login(page, server_url)
    expect(page.get_by_label("Message")).to_be_visible()
    expect(page.get_by_label("Model", exact=True)).to_be_visible()
    _send_from_home(page, server_url, "Plan a picnic by the lake")

    expect(page.locator('[data-message-role="user"]')).to_have_count(1)
    expect(page.locator('[data-message-role="user"]').first).to_contain_text("Plan a picnic")
    expect(_assistant(page)).to_have_attribute("data-message-status", "complete", timeout=30_000)
    # The socket named the conversation; the tab title followed without a reload.
    expect(page).to_have_title(re.compile("Plan a picnic by the lake"))
    expect(page.locator("#conversation-title")).to_have_text("Plan a picnic by the lake")
    # A reload neither sends the text again nor leaves it in the composer.
    page.reload()
    expect(page.locator('[data-message-role="user"]')).to_have_count(1)
    expect(page.get_by_label("Message")).to_have_value("")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_starter_prompt_fills_the_composer(page, server_url):
    _setup_or_login(page, server_url)
    page.goto(server_url + "/")
    page.get_by_role("button", name="Draft a short, friendly email").click()
    expect(page.get_by_label("Message")).to_have_value("Draft a short, friendly email")
    expect(page.get_by_label("Message")).to_be_focused()


def test_escape_in_the_composer_stops_a_streaming_reply(page, server_url):
    _setup_or_login(page, server_url)
    _send_from_home(page, server_url, "Tell me something long [demo:slow]")
    reply = _assistant(page)
    expect(reply).to_have_attribute("data-message-status", "streaming", timeout=10_000)
    expect(reply.locator(".message-text")).not_to_be_empty(timeout=10_000)
    page.get_by_label("Message").focus()
    page.keyboard.press("Escape")
    expect(reply).to_have_attribute("data-message-status", "stopped", timeout=10_000)


def test_slash_focuses_search_and_the_shortcut_opens_a_new_chat(page, server_url):
    _setup_or_login(page, server_url)
    _send_from_home(page, server_url, "First question")
    expect(_assistant(page)).to_have_attribute("data-message-status", "complete", timeout=30_000)
    first = page.url
    page.locator("#thread").click()  # not typing anywhere
    page.keyboard.press("/")
    search = page.get_by_label("Search conversations")
    expect(search).to_be_focused()
    expect(search).to_have_value("")  # the key focused the field, it typed nothing
    # Typing "/" in a field types it.
    page.keyboard.type("a/b")
    expect(search).to_have_value("a/b")
    page.locator("#thread").click()
    page.keyboard.press("Control+Shift+O")
    expect(page).not_to_have_url(first)
    expect(page).to_have_url(CONVERSATION_URL)
    expect(page.locator('[data-message-role="user"]')).to_have_count(0)


def test_search_reacts_to_a_paste(page, server_url):
    _setup_or_login(page, server_url)
    _send_from_home(page, server_url, "Quokka facts")
    expect(_assistant(page)).to_have_attribute("data-message-status", "complete", timeout=30_000)
    search = page.get_by_label("Search conversations")
    # fill() sets the value and fires `input` only, as a paste or autofill does: no key events.
    search.fill("zzz-no-such-thing")
    expect(page.locator(".conversation-list-empty")).to_contain_text("No conversation matches")
    search.fill("quokka")
    expect(page.locator("#conversation-list")).to_contain_text("Quokka facts")


def test_the_user_menu_and_a_language_switch_that_applies_on_change(page, server_url):
    _setup_or_login(page, server_url)
    page.goto(server_url + "/")
    expect(page.get_by_role("button", name="Switch")).to_have_count(0)
    page.locator("#user-menu > summary").click()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_be_visible()  # the first user is admin
    page.get_by_text("Keyboard shortcuts").click()
    expect(page.locator(".shortcut-list")).to_contain_text("Ctrl")
    page.get_by_label("Language").select_option("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.locator("#user-menu > summary").click()
    page.get_by_label("语言").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # Esc closes the menu.
    page.locator("#user-menu > summary").click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="Settings")).to_be_hidden()


def test_the_demo_notice_is_one_line_and_dismissible(browser, server_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        banner = page.locator(".demo-banner")
        expect(banner).to_be_visible()
        box = banner.bounding_box()
        assert box is not None and box["height"] <= 40, box  # one line on a phone
        page.get_by_role("button", name="Dismiss the demo notice").click()
        expect(banner).to_have_count(0)
        page.reload()
        expect(page.get_by_label("Message")).to_be_visible()
        expect(banner).to_have_count(0)
    finally:
        context.close()


def test_the_phone_keeps_the_header_visible_in_a_long_thread(browser, server_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        _send_from_home(page, server_url, "A long answer please [demo:fixed_tokens:600]")
        reply = _assistant(page)
        expect(reply).to_have_attribute("data-message-status", "complete", timeout=60_000)
        main = page.locator("#main")
        assert page.evaluate("() => document.getElementById('main').scrollHeight") > 2 * 844
        main.evaluate("el => el.scrollTo(0, el.scrollHeight / 2)")
        header = page.locator(".conversation-header")
        expect(header).to_be_in_viewport()
        box = header.bounding_box()
        main_top = main.bounding_box()["y"]
        assert box is not None and abs(box["y"] - main_top) <= 1, (box, main_top)
        expect(page.get_by_label("Model", exact=True)).to_be_in_viewport()
        # The conversation's actions are behind the header's "⋯" on a phone.
        page.get_by_label("Conversation actions").click()
        expect(page.get_by_role("button", name="Share with team")).to_be_in_viewport()
        _shot(page, "conversation-phone-scrolled")
    finally:
        context.close()


def test_long_titles_never_overlap_the_actions_button_at_320px(browser, server_url):
    context = browser.new_context(viewport={"width": 320, "height": 700}, is_mobile=True)
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        long_title = "Supercalifragilisticexpialidocious" * 3
        _send_from_home(page, server_url, long_title)
        expect(_assistant(page)).to_have_attribute(
            "data-message-status", "complete", timeout=30_000
        )
        page.get_by_role("button", name="Conversations").click()
        item = page.locator(".conversation-item[aria-current='page']")
        expect(item).to_be_visible()
        title = item.locator(".conversation-title").bounding_box()
        actions = item.locator(".conversation-actions > summary").bounding_box()
        assert title and actions
        assert title["x"] + title["width"] <= actions["x"] + 0.5, (title, actions)
        assert actions["x"] + actions["width"] <= 320
    finally:
        context.close()


@pytest.mark.parametrize(
    ("name", "viewport", "scheme"),
    [
        ("home-desktop-light", {"width": 1280, "height": 800}, "light"),
        ("home-desktop-dark", {"width": 1280, "height": 800}, "dark"),
        ("home-phone-light", {"width": 390, "height": 844}, "light"),
        ("home-phone-dark", {"width": 390, "height": 844}, "dark"),
    ],
)
def test_screenshots_of_home(browser, server_url, name, viewport, scheme):
    context = browser.new_context(
        viewport=viewport, color_scheme=scheme, is_mobile=viewport["width"] < 500
    )
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        page.goto(server_url + "/")
        expect(page.get_by_label("Message")).to_be_visible()
        _shot(page, name)
        if viewport["width"] > 500:
            page.locator("#user-menu > summary").click()
            _shot(page, name + "-menu")
    finally:
        context.close()


WIDE_TABLE = """(body) => {
  const table = document.createElement('table');
  const row = table.insertRow();
  for (let i = 0; i < 30; i++) row.insertCell().textContent = 'column ' + i;
  body.appendChild(table);
  const maths = document.createElement('div');
  maths.className = 'math math-display';
  body.appendChild(maths);
  const sum = Array.from({length: 80}, (_, i) => 'x_{' + i + '}').join(' + ');
  window.katex.render(sum, maths, {displayMode: true});
}"""


def test_wide_tables_and_maths_scroll_inside_the_message_with_a_hint(page, server_url):
    _setup_or_login(page, server_url)
    _send_from_home(page, server_url, "Show me something wide")
    reply = _assistant(page)
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    reply.locator(".message-body").evaluate(WIDE_TABLE)
    for selector in ("table", ".math-display"):
        wide = reply.locator(f".message-body > {selector}").last
        sizes = wide.evaluate(
            """el => ({scroll: el.scrollWidth, client: el.clientWidth,
                      overflow: getComputedStyle(el).overflowX,
                      hint: getComputedStyle(el).backgroundImage})"""
        )
        assert sizes["scroll"] > sizes["client"], sizes  # it scrolls inside the message
        assert sizes["overflow"] == "auto", sizes
        assert sizes["hint"].count("gradient") == 4, sizes  # the edge shadows
    main = page.locator("#main").evaluate("el => el.scrollWidth <= el.clientWidth")
    assert main  # the page itself does not scroll sideways
