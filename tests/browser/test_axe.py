"""axe-core finds no serious or critical accessibility violation on a chat page whose reply
has a code block (and a table, a list and maths), in the light and the dark theme.

axe is vendored in tests/browser/vendor/axe/ (axe-core 4.14.1, MPL-2.0), outside static/ so
no Parlor server serves it, and put into the page by the test only. The context bypasses the
page's CSP for that one script."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_first_run_and_chat import _assistant, _setup_or_login

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor/axe/axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({id: v.id, impact: v.impact,
                  nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' '))}));
}"""


@contextlib.contextmanager
def signed_in_page(browser, server_url: str, scheme: str):
    """A desktop page of the owner, in `scheme`, whose CSP lets the test add axe's script."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        locale="en-US",
        color_scheme=scheme,
        bypass_csp=True,
    )
    page = context.new_page()
    try:
        _setup_or_login(page, server_url)
        yield page
    finally:
        context.close()


def axe_violations(page) -> list:
    """The serious and critical violations axe finds on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_chat_page_with_code_has_no_serious_axe_violation(browser, server_url, scheme):
    with signed_in_page(browser, server_url, scheme) as page:
        page.get_by_role("button", name="New chat").or_(
            page.get_by_role("link", name="New chat")
        ).first.click()
        page.get_by_label("Message").fill("What can you show me?")
        page.get_by_role("button", name="Send").click()
        reply = _assistant(page)
        expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
        expect(reply.locator(".codeblock .k").first).to_be_visible()
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
            scheme == "dark"
        )
        violations = axe_violations(page)
        assert violations == [], violations


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_admin_has_no_serious_axe_violation(browser, server_url, scheme):
    with signed_in_page(browser, server_url, scheme) as page:
        for path in ("/admin/", "/admin/chat/conversation/", "/admin/accounts/team/"):
            page.goto(server_url + path)
            expect(page.locator(".parlor-brand")).to_be_visible()
            violations = axe_violations(page)
            assert violations == [], (path, violations)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_product_pages_have_no_serious_axe_violation(browser, server_url, scheme):
    """Home (the composer), Settings, the Team page and the studio, as a signed-in owner."""
    with signed_in_page(browser, server_url, scheme) as page:
        for path in ("/", "/accounts/settings/", "/accounts/team/", "/studio/"):
            page.goto(server_url + path)
            expect(page.locator("main")).to_be_visible()
            violations = axe_violations(page)
            assert violations == [], (path, violations)
