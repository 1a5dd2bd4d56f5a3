"""The Studio as a gallery on `make run`: an imagine and a song on the demo gateway become
tiles (the running one moves by live pushes), a tile opens the lightbox from the keyboard, the
arrows move to the next job, a Midjourney button inside it starts a child whose tile appears,
Esc closes and gives the focus back to the tile; a song's tile and card say how long it is
before anything is played. Screenshots at 1280x800 and 390x844, light and dark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, shot
from tests.browser.test_accessibility import UNNAMED_CONTROLS
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

JOB_TIMEOUT = 60_000  # ms; a demo job takes a few seconds
SHOTS = Path(os.environ.get("PARLOR_SHOTS") or ARTIFACTS / "studio")
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def _shots(page, name: str) -> None:
    """The page in every size and theme (the theme follows the system: emulate it)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            # Finished transitions: buttons fade their colours when the theme changes.
            page.screenshot(path=str(SHOTS / f"{name}-{size}-{scheme}.png"), animations="disabled")
    shot(page, f"studio-{name}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme="light")


def _start(page, server_url: str, tool: str, label: str, prompt: str) -> None:
    page.goto(f"{server_url}/studio/new/{tool}/")
    page.get_by_label(label).fill(prompt)
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".job-card").first).to_be_visible()


def test_the_gallery_opens_jobs_in_a_lightbox(page, server_url):
    _setup_or_login(page, server_url)
    _start(page, server_url, "suno", "Description or lyrics", "a sea shanty [demo:duration:3]")
    _start(page, server_url, "imagine", "Prompt", "a lighthouse at dusk [demo:duration:8]")

    page.goto(server_url + "/studio/")
    grid = page.locator("#job-list")
    imagine = grid.locator('.tile[data-job-kind="midjourney"]')
    song = grid.locator('.tile[data-job-kind="suno"]')
    expect(imagine).to_have_count(1)
    expect(song).to_have_count(1)
    imagine = page.locator("#" + (imagine.get_attribute("id") or ""))  # the child's comes next
    # The running picture's tile moves with the pushes until it is done (no reload).
    expect(imagine.locator("progress")).to_be_visible()
    _shots(page, "gallery-running")
    # Opened while it runs, the lightbox shows the picture once it is done, then Esc.
    imagine.get_by_role("link").click()
    dialog = page.locator("#lightbox")
    expect(dialog.get_by_role("img", name="Image 1 of the result")).to_be_visible(
        timeout=JOB_TIMEOUT
    )
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(imagine.get_by_role("link")).to_be_focused()
    expect(imagine).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    expect(imagine.locator("img")).to_be_visible(timeout=JOB_TIMEOUT)  # copied after the success
    # A push that replaces the tile (as a late one did right after Esc) keeps the focus.
    page.evaluate(
        """id => new Promise(done => {
            const tile = document.getElementById(id);
            htmx.ajax("GET", tile.dataset.tileUrl, {target: tile, swap: "outerHTML"}).then(done);
        })""",
        imagine.get_attribute("id"),
    )
    expect(imagine.get_by_role("link")).to_be_focused()
    # The song's tile says how long it is before anything is played.
    expect(song).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    expect(song.locator(".tile-duration")).to_have_text("0:03 · 0:03")
    assert page.evaluate(UNNAMED_CONTROLS) == []
    _shots(page, "gallery")

    # The filters are htmx swaps that keep the URL.
    page.get_by_text("Music", exact=True).click()
    expect(page).to_have_url(f"{server_url}/studio/?kind=music&status=&who=")
    expect(grid.locator(".tile")).to_have_count(1)
    page.get_by_text("All", exact=True).first.click()
    expect(grid.locator(".tile")).to_have_count(2)

    # Newest first: the picture, then the song. Open the picture with the keyboard.
    first_link = imagine.get_by_role("link")
    first_link.focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(dialog.locator('.job-card[data-job-kind="midjourney"]')).to_be_visible()
    expect(dialog.locator(".lightbox-stage img")).to_be_visible()
    expect(dialog.get_by_role("button", name="Next")).to_be_enabled()
    assert page.evaluate(UNNAMED_CONTROLS) == []
    _shots(page, "lightbox-image")

    page.keyboard.press("ArrowRight")
    expect(dialog.locator('.job-card[data-job-kind="suno"]')).to_be_visible()
    expect(dialog.locator(".job-clip-duration").first).to_have_text("0:03")
    expect(dialog.get_by_role("button", name="Next")).to_be_disabled()
    _shots(page, "lightbox-song")

    dialog.get_by_role("button", name="Previous").click()
    card = dialog.locator('.job-card[data-job-kind="midjourney"]')
    expect(card).to_be_visible()
    card.get_by_role("button", name="U1", exact=True).click()
    # The child's tile goes first in the grid, and finishes there.
    expect(grid.locator(".tile")).to_have_count(3)
    expect(grid.locator(".tile").first).to_have_attribute(
        "data-job-status", "succeeded", timeout=JOB_TIMEOUT
    )

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(imagine.get_by_role("link")).to_be_focused()
    assert not page.console_errors  # type: ignore[attr-defined]
