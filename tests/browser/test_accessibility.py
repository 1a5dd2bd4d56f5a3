"""Every control has an accessible name, is reachable by keyboard and shows its focus."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

UNNAMED_CONTROLS = """() => {
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])');
  const name = (el) => {
    if (el.getAttribute('aria-label')) return el.getAttribute('aria-label');
    const by = el.getAttribute('aria-labelledby');
    const text = (id) => document.getElementById(id)?.textContent || '';
    if (by) return by.split(' ').map(text).join(' ');
    if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(' ');
    return el.textContent || el.getAttribute('title') || el.value || '';
  };
  return [...controls]
    .filter((el) => el.getClientRects().length && !el.closest('[hidden], [inert]'))
    .filter((el) => !name(el).trim())
    .map((el) => el.outerHTML.slice(0, 120));
}"""


def _pages(page, server_url):
    _setup_or_login(page, server_url)
    yield "home"
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_label("Message").fill("Hello")
    page.get_by_role("button", name="Send").click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    yield "conversation"
    page.get_by_role("link", name="Team", exact=True).click()
    yield "team"


def test_every_visible_control_has_an_accessible_name(page, server_url):
    for name in _pages(page, server_url):
        assert page.evaluate(UNNAMED_CONTROLS) == [], name


def test_the_keyboard_reaches_the_composer_with_a_visible_focus(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    expect(page.get_by_label("Message")).to_be_visible()
    page.locator("body").focus()
    reached = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
              const el = document.activeElement;
              const style = getComputedStyle(el);
              return {id: el.id, tag: el.tagName,
                      ring: style.outlineStyle !== 'none' || style.boxShadow !== 'none'};
            }"""
        )
        reached.append(focused)
        if focused["id"] == "composer-text":
            break
    assert reached[-1]["id"] == "composer-text", reached
    assert all(step["ring"] for step in reached if step["tag"] != "BODY"), reached
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Enter")
    expect(page.locator('[data-message-role="user"]').last).to_contain_text("Typed without a mouse")
