"""A phone and a long day: on 390x844 with the demo notice and a budget banner the thread keeps
most of the screen (banners one line each, a one-row header whose model is readable and whose
actions sit behind "⋯", a compact composer); sticky bars are opaque; a send the budget refuses
from the home page leaves no empty conversation and says what the reader can do; the tab title
shows a dot while a reply streams; an optional pushed fragment whose target is absent is
dropped without a console error. Screenshots: /tmp/shots-phone/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_budgets import _invite_member
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-phone")  # noqa: S108 (screenshots to look at, not secrets)
PHONE = {"width": 390, "height": 844}
CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}/$")

# The chrome above and below the visible thread, in px: the thread's part of the viewport is
# what lies between the sticky conversation header and the sticky composer.
MEASURE = """() => {
  const vh = window.innerHeight;
  const header = document.querySelector('.conversation-header').getBoundingClientRect();
  const composer = document.querySelector('#composer').getBoundingClientRect();
  return {above: Math.round(header.bottom), below: Math.round(vh - composer.top), vh};
}"""


# The model select's width, and what its selected name needs: the text in the select's own
# font, its padding and the arrow. (Before the fix: 122 needed, 118 given: "gpt-4o-min".)
NEEDED_WIDTH = """s => {
  const ARROW = 18;  // Chromium draws the arrow beside the padding, about 18 px
  const style = getComputedStyle(s);
  const context = document.createElement('canvas').getContext('2d');
  context.font = style.font;
  const text = context.measureText(s.options[s.selectedIndex].text).width;
  const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
  return [Math.ceil(text + padding + ARROW), s.clientWidth];
}"""


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _send_from_home(page, server_url: str, text: str) -> None:
    page.goto(server_url + "/")
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(CONVERSATION_URL)


def test_the_tab_title_shows_a_dot_while_a_reply_streams(page, server_url):
    _setup_or_login(page, server_url)
    _send_from_home(page, server_url, "A long answer please [demo:fixed_tokens:600]")
    expect(page).to_have_title(re.compile(r"^• "))
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=60_000)
    expect(page).to_have_title(re.compile(r"^(?!• ).+ · Parlor$"))


def test_an_optional_push_without_its_target_is_dropped_quietly(page, server_url):
    _setup_or_login(page, server_url)
    body = (
        '<div id="nowhere-optional" hx-swap-oob="true" data-oob-optional>x</div>'
        '<div hx-swap-oob="beforeend:#nowhere-either" data-oob-optional>y</div>'
        '<div id="live-region" hx-swap-oob="innerHTML">pushed</div>'
    )
    page.route("**/oob-probe/", lambda route: route.fulfill(body=body, content_type="text/html"))
    page.evaluate("htmx.ajax('GET', '/oob-probe/', {target: '#live-region', swap: 'none'})")
    expect(page.locator("#live-region")).to_have_text("pushed")
    assert page.console_errors == []
    # A fragment not marked optional still reports its missing target.
    page.route("**/oob-probe-2/", lambda r: r.fulfill(body=body.replace(" data-oob-optional", "")))
    with page.expect_console_message(lambda msg: "oobErrorNoTarget" in msg.text):
        page.evaluate("htmx.ajax('GET', '/oob-probe-2/', {target: '#live-region', swap: 'none'})")
    page.console_errors.clear()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_sticky_bars_are_opaque(browser, server_url, scheme):
    context = browser.new_context(viewport=PHONE, color_scheme=scheme, locale="en-US")
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        _send_from_home(page, server_url, "Hello")
        reply = page.locator('[data-message-role="assistant"]').last
        expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
        selectors = [".conversation-header", "#composer", ".topbar"]
        # One script reads all three: the socket swaps a fresh composer in after a send, and
        # an element found by one call and read by the next may have left the page between.
        styles = page.evaluate(
            "selectors => selectors.map(sel => { const s = getComputedStyle("
            "document.querySelector(sel));"
            " return [s.backgroundColor, s.backdropFilter, s.backgroundImage]; })",
            selectors,
        )
        for selector, style in zip(selectors, styles, strict=True):
            color, backdrop, image = style
            assert color.startswith("rgb(") or color.endswith(", 1)"), (selector, style)
            assert backdrop in ("none", ""), (selector, style)
            assert image == "none", (selector, style)
    finally:
        context.close()


_long: dict[str, str] = {}  # the URL of the long conversation, made once per server


def _long_conversation(browser, server_url: str) -> str:
    """A conversation with a long reply, made (while the budget still pays) the first time."""
    if server_url not in _long:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
        page = context.new_page()
        try:
            _setup_or_login(page, server_url)
            _send_from_home(page, server_url, "A long answer please [demo:fixed_tokens:600]")
            reply = page.locator('[data-message-role="assistant"]').last
            expect(reply).to_have_attribute("data-message-status", "complete", timeout=60_000)
            _long[server_url] = page.url
        finally:
            context.close()
    return _long[server_url]


def _open_a_long_conversation(page, server_url: str) -> None:
    page.goto(_long[server_url])
    expect(page).to_have_url(CONVERSATION_URL)
    expect(page.locator('[data-message-role="assistant"]').last).to_have_attribute(
        "data-message-status", "complete"
    )


def test_with_both_banners_the_thread_keeps_most_of_a_phone(browser, server_url):
    _long_conversation(browser, server_url)
    owner = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = owner.new_page()
    _setup_or_login(page, server_url)
    page.goto(server_url + "/accounts/team/")
    page.get_by_label("Monthly budget").fill("0")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Budget saved.")).to_be_visible()
    owner.close()
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=PHONE, color_scheme=scheme, locale="en-US")
        page = context.new_page()
        try:
            _setup_or_login(page, server_url)
            _open_a_long_conversation(page, server_url)
            for banner in ("#demo-banner", "#budget-banner"):
                box = page.locator(banner).bounding_box()
                assert box is not None and box["height"] <= 36, (banner, box)  # one line
            chrome = page.evaluate(MEASURE)
            print("phone chrome", scheme, chrome)
            thread_share = (chrome["vh"] - chrome["above"] - chrome["below"]) / chrome["vh"]
            assert thread_share >= 0.6, chrome
            _shot(page, f"conversation-phone-{scheme}")
            # The whole banner text is one tap away.
            page.locator("#budget-banner summary").click()
            assert page.locator("#budget-banner").bounding_box()["height"] > 36
            page.locator("#budget-banner summary").click()
            # The model's name is readable in full.
            select = page.get_by_label("Model", exact=True)
            needed, width = select.evaluate(NEEDED_WIDTH)
            assert width >= needed, (needed, width)
            # Delete (and the other actions) behind the header's menu, by keyboard too.
            expect(page.get_by_role("link", name="Delete…")).to_be_hidden()
            page.get_by_label("Conversation actions").focus()
            page.keyboard.press("Enter")
            expect(page.get_by_role("link", name="Delete…")).to_be_visible()
            expect(page.get_by_role("button", name="Share with team")).to_be_visible()
            expect(page.get_by_role("button", name="Export")).to_be_visible()
            _shot(page, f"conversation-phone-menu-{scheme}")
            page.keyboard.press("Escape")
            expect(page.get_by_role("link", name="Delete…")).to_be_hidden()
            expect(page.get_by_label("Conversation actions")).to_be_focused()
            page.goto(server_url + "/")
            _shot(page, f"home-phone-{scheme}")
        finally:
            context.close()


def test_desktop_keeps_the_actions_in_the_header_row(browser, server_url):
    _long_conversation(browser, server_url)
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, color_scheme=scheme, locale="en-US"
        )
        page = context.new_page()
        try:
            _setup_or_login(page, server_url)
            _open_a_long_conversation(page, server_url)
            expect(page.get_by_role("link", name="Delete…")).to_be_visible()
            expect(page.get_by_label("Conversation actions")).to_be_hidden()
            _shot(page, f"conversation-desktop-{scheme}")
            page.goto(server_url + "/")
            _shot(page, f"home-desktop-{scheme}")
        finally:
            context.close()


def _sidebar_count(page) -> int:
    return page.locator(".sidebar a[href^='/c/']").count()


def _assert_send_on_the_composer_row(page) -> None:
    send = page.get_by_role("button", name="Send").bounding_box()
    model = page.locator("#home-model").bounding_box()
    assert send and model
    assert abs(send["y"] + send["height"] / 2 - model["y"] - model["height"] / 2) < 4


def test_a_refused_send_from_home_leaves_nothing_and_says_what_to_do(browser, page, server_url):
    # The budget is 0 since the test above: the owner's send is refused on the home page.
    _setup_or_login(page, server_url)
    page.goto(server_url + "/")
    before = _sidebar_count(page)
    page.get_by_label("Message").fill("Anything at all")
    page.get_by_role("button", name="Send").click()
    error = page.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).not_to_contain_text("ask a team owner", ignore_case=True)
    link = error.get_by_role("link", name="Raise the budget on the Team page")
    expect(link).to_have_attribute("href", "/accounts/team/#budget")
    expect(page.get_by_label("Message")).to_have_value("Anything at all")
    assert _sidebar_count(page) == before
    _assert_send_on_the_composer_row(page)
    page.screenshot(path=str(SHOTS / "refused-owner.png"))

    invite_url = _invite_member(page)
    guest = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        member = guest.new_page()
        member.goto(invite_url)
        member.get_by_label("Username").fill("bea")
        member.get_by_label("Password", exact=True).fill("another-long-passphrase")
        member.get_by_label("Password confirmation").fill("another-long-passphrase")
        member.get_by_role("button", name="Create account").click()
        member.goto(server_url + "/")
        member.get_by_label("Message").fill("Anything at all")
        member.get_by_role("button", name="Send").click()
        error = member.locator("#composer-error")
        expect(error).to_contain_text("Ask a team owner (admin)")
        expect(error.get_by_role("link")).to_have_count(0)
        assert _sidebar_count(member) == 0
        _assert_send_on_the_composer_row(member)
    finally:
        guest.close()
