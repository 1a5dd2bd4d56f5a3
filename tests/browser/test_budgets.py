"""Budgets as people use them: an owner sets a budget of 0 on the Team page and a member's
next message is refused with a message that says "budget"; the usage page is in the nav as
"Usage", offers "Export CSV", and is axe-clean in both themes and fits a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_axe import axe_violations, signed_in_page
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser
BUDGET = re.compile("budget", re.IGNORECASE)


def _invite_member(page) -> str:
    page.get_by_role("link", name="Team", exact=True).click()
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Create invite link").click()
    invite_url = page.locator("[data-invite-url]").get_attribute("data-invite-url")
    assert invite_url and "/invite/" in invite_url
    return invite_url


def test_a_budget_of_zero_refuses_a_members_message(browser, page, server_url):
    _setup_or_login(page, server_url)
    invite_url = _invite_member(page)

    page.get_by_label("Monthly budget").fill("0")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Budget saved.")).to_be_visible()
    expect(page.get_by_label("Monthly budget")).to_have_value(re.compile(r"^0(\.0*)?$"))
    shot(page, "u2-team-budget")

    guest = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        member = guest.new_page()
        member.goto(invite_url)
        member.get_by_label("Username").fill("bea")
        member.get_by_label("Password", exact=True).fill("another-long-passphrase")
        member.get_by_label("Password confirmation").fill("another-long-passphrase")
        member.get_by_role("button", name="Create account").click()
        member.get_by_role("button", name="New chat").first.click()
        member.get_by_label("Message").fill("Anything at all")
        member.get_by_role("button", name="Send").click()
        # The refusal itself (a failed reply or the composer's error), not the banner.
        refusal = member.locator(".message-error, #composer-error").filter(has_text=BUDGET)
        expect(refusal.first).to_be_visible(timeout=30_000)
        expect(member.get_by_role("link", name="Usage", exact=True)).to_have_count(0)
        shot(member, "u2-refused")
    finally:
        guest.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_usage_page_in_the_nav_with_export_and_axe_clean(browser, server_url, scheme):
    with signed_in_page(browser, server_url, scheme) as page:
        page.get_by_role("link", name="Usage", exact=True).click()
        expect(page.get_by_role("heading", name="Usage", level=1)).to_be_visible()
        export = page.get_by_role("link", name="Export CSV")
        expect(export).to_be_visible()
        with page.expect_download() as download_info:
            export.click()
        header = download_info.value.path().read_text(encoding="utf-8").splitlines()[0]
        assert header.startswith("time,team,user,kind,model")
        # Charts once the shared server has usage in the range; until then the words that say so.
        expect(page.locator("svg.chart, #usage-empty").first).to_be_visible()
        shot(page, f"u2-usage-{scheme}")
        for path in ("/usage/", "/accounts/team/", "/usage/audit/"):
            page.goto(server_url + path)
            assert axe_violations(page) == [], path


def test_usage_page_fits_a_phone_and_works_by_keyboard(browser, server_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        page.goto(server_url + "/usage/")
        for selector in ("html", "#main"):  # #main is the scroll container of every page
            overflow = page.eval_on_selector(selector, "e => e.scrollWidth - e.clientWidth")
            assert overflow <= 0, selector
        page.get_by_label("Kind", exact=True).focus()
        apply = page.get_by_role("button", name="Apply")
        for _ in range(5):  # the filters after Kind, then Apply: reached by keyboard
            page.keyboard.press("Tab")
            if apply.evaluate("b => b === document.activeElement"):
                break
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/usage/\?"))
        shot(page, "u2-usage-phone")
    finally:
        context.close()
