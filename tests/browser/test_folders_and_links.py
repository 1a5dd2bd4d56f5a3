"""Folders, the archive and public links as a person uses them: file a conversation in a
folder, archive and bring one back, then give one a public link, read it signed out, revoke
it. Screenshots (1280 and 390 wide, light and dark) go to test-results/folders/, and axe finds
no serious violation on any of those pages."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_axe import AXE
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "folders"
SIZES = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}


def _chat(page, text: str) -> str:
    """Start a conversation with `text`, wait for the reply; its id's hex."""
    page.get_by_role("button", name="New chat").first.click()
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    match = re.search(r"/c/([0-9a-f-]{36})/", page.url)
    assert match
    return match.group(1).replace("-", "")


def _menu(page, hex_id: str):
    item = page.locator(f"#conversation-{hex_id}")
    item.hover()
    item.locator(".conversation-actions > summary").click()
    return item


def _axe(page, selector: str) -> list:
    """axe's serious and critical violations inside `selector` (the part this feature adds:
    the sidebar of a chat page, or the whole public page)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async (selector) => {
          const result = await axe.run(selector, {resultTypes: ['violations']});
          return result.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({id: v.id, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' '))}));
        }""",
        selector,
    )


def _slid_in(drawer) -> None:
    """Wait until the phone's drawer has finished sliding in (its box reaches the edge)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        box = drawer.bounding_box()
        if box is not None and box["x"] >= 0:
            return
    raise AssertionError("the drawer did not open")


def _shots(
    browser,
    page,
    url: str,
    name: str,
    *,
    signed_in: bool,
    sidebar: bool = False,
    open_link_panel: bool = False,
    scope: str = "body",
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    state = page.context.storage_state() if signed_in else None
    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(
                viewport=viewport,
                color_scheme=scheme,
                storage_state=state,
                is_mobile=size == "390",
                bypass_csp=True,  # for axe's script only
            )
            try:
                other = context.new_page()
                other.goto(url)
                if sidebar and size == "390":
                    other.locator("#sidebar-toggle").click()
                    expect(other.locator(".sidebar")).to_be_visible()
                    _slid_in(other.locator(".sidebar"))
                if open_link_panel:
                    if size == "390":  # on a phone the conversation's actions sit behind "⋯"
                        other.get_by_label("Conversation actions").click()
                    other.locator("#public-link > summary").click()
                    expect(other.locator("#public-link-url")).to_be_visible()
                    box = other.locator(".public-link-panel").bounding_box()
                    assert box is not None and box["x"] >= 0
                    assert box["x"] + box["width"] <= viewport["width"]
                other.screenshot(path=str(SHOTS / f"{name}-{size}-{scheme}.png"))
                violations = _axe(other, scope)
                assert violations == [], (name, size, scheme, violations)
            finally:
                context.close()


def test_folders_archive_and_a_public_link(browser, page, server_url):
    _setup_or_login(page, server_url)
    trip = _chat(page, "Plan a weekend in Lisbon")
    email = _chat(page, "Draft a short email to the team")
    _chat(page, "Explain recursion simply")

    # a folder, and a conversation moved into it
    page.get_by_text("New folder").click()
    page.get_by_label("Folder name").fill("Travel")
    page.get_by_role("button", name="Create", exact=True).click()
    folder = page.locator(".folder").filter(has_text="Travel")
    expect(folder).to_be_visible()
    expect(folder.locator(".folder-count")).to_contain_text("0")
    item = _menu(page, trip)
    item.get_by_label("Folder").select_option(label="Travel")
    item.get_by_role("button", name="Move").click()
    expect(folder.locator(f"#conversation-{trip}")).to_be_visible()
    expect(folder.locator(".folder-count")).to_contain_text("1")
    # the folder collapses from the keyboard, with its count still shown
    summary = folder.locator(".folder-summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(folder.locator(f"#conversation-{trip}")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(folder.locator(f"#conversation-{trip}")).to_be_visible()

    # archive one and bring it back
    menu = _menu(page, email)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "menu-1280-light.png"))
    menu.get_by_role("button", name="Archive", exact=True).click()
    archived = page.locator(".archived-section")
    expect(archived).to_contain_text("Archived")
    expect(archived.locator(".folder-count")).to_have_text("1")
    expect(page.locator(f"#conversation-{email}")).to_be_hidden()  # in the closed section
    archived.locator("summary").first.click()
    expect(archived.locator(f"#conversation-{email}")).to_be_visible()
    _menu(page, email).get_by_role("button", name="Unarchive").click()
    expect(page.locator(".archived-section")).to_have_count(0)
    expect(page.locator(f"#conversation-{email}")).to_be_visible()
    # one stays archived for the pictures
    _menu(page, email).get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator(".archived-section")).to_be_visible()
    _shots(browser, page, page.url, "sidebar", signed_in=True, sidebar=True, scope=".sidebar")

    # the team allows public links
    page.get_by_role("link", name="Team", exact=True).click()
    page.get_by_label("Allow public links").check()
    page.locator("#allow-public-links").locator("xpath=ancestor::form").get_by_role(
        "button", name="Save"
    ).click()
    expect(page.get_by_label("Allow public links")).to_be_checked()

    # a public link to the trip, read signed out
    page.goto(f"{server_url}/c/{uuid.UUID(trip)}/")
    page.get_by_text("Public link", exact=True).click()
    page.get_by_role("button", name="Create public link").click()
    url_box = page.locator("#public-link-url")
    expect(url_box).to_be_visible()
    public_url = url_box.input_value()
    page.screenshot(path=str(SHOTS / "link-panel-1280-light.png"))
    _shots(
        browser,
        page,
        page.url,
        "link-panel",
        signed_in=True,
        open_link_panel=True,
        scope="#public-link",
    )
    assert "/p/" in public_url

    guest = browser.new_context(viewport=SIZES["1280"])
    try:
        reader = guest.new_page()
        response = reader.goto(public_url)
        assert response is not None and response.status == 200
        assert (response.headers.get("x-robots-tag") or "").startswith("noindex")
        expect(reader.get_by_role("heading", level=1)).to_be_visible()
        user_message = reader.locator('[data-message-role="user"]')
        expect(user_message).to_contain_text("Plan a weekend in Lisbon")
        expect(reader.locator('[data-message-role="assistant"]')).to_have_count(1)
        expect(reader.locator("form, textarea, button:not(.copy-btn)")).to_have_count(0)
        expect(reader.get_by_text("Draft a short email")).to_have_count(0)
        _shots(browser, page, public_url, "public", signed_in=False)

        # revoked: the link is gone
        page.get_by_role("button", name="Revoke link").click()
        expect(page.get_by_role("button", name="Create public link")).to_be_visible()
        response = reader.goto(public_url)
        assert response is not None and response.status == 404
    finally:
        guest.close()
    # The revoked link's 404 is expected; the streamed replies' "oobErrorNoTarget, #null" is
    # chat's, seen with or without folders.
    errors = page.console_errors  # type: ignore[attr-defined]
    assert not [e for e in errors if "404" not in e and "oobErrorNoTarget" not in e]
