"""Image generation as a person meets it on `make run`: `/image a red fox` in the composer
makes a card that ends succeeded with a picture Parlor serves; the Studio's Image tool shows
the price before sending and follows the model chosen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

JOB_TIMEOUT = 60_000  # ms; a demo image takes ~3 s


def test_image_command_makes_a_card_with_a_picture_parlor_serves(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    page.get_by_label("Message").fill("/image a red fox")
    page.get_by_role("button", name="Send").click()

    card = page.locator('#thread > .job-card[data-job-kind="image"]').first
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    picture = card.locator(".job-images img").first
    expect(picture).to_be_visible()
    source = picture.get_attribute("src") or ""
    assert source.startswith("/studio/jobs/")  # served by Parlor, never the upstream link
    # Our copy loads: waited for, since the card can be drawn before its picture has arrived
    # (and a card swapped in again would leave a handle to the old one behind).
    page.wait_for_function(
        "sel => { const img = document.querySelector(sel);"
        " return !!img && img.complete && img.naturalWidth > 0; }",
        arg='#thread > .job-card[data-job-kind="image"] .job-images img',
        timeout=JOB_TIMEOUT,
    )
    expect(card.get_by_text("Revised prompt")).to_be_visible()  # dall-e-3, the default
    shot(page, "images-01-thread")

    # The composer's "Image" mode does the same without typing the command.
    page.get_by_label("Media mode", exact=True).select_option("image")
    page.get_by_label("Message").fill("a blue owl")
    page.get_by_role("button", name="Send").click()
    second = page.locator('#thread > .job-card[data-job-kind="image"]').nth(1)
    expect(second).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    assert not page.console_errors  # type: ignore[attr-defined]


def _swapped(page) -> None:
    """Wait until htmx has swapped the options in: a choice made on the ones leaving is lost."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def test_the_studio_image_form_shows_the_price_and_follows_the_model(page, server_url):
    _setup_or_login(page, server_url)
    page.goto(server_url + "/studio/new/image/")
    price = page.locator("#image-price")
    expect(price).to_contain_text("0.04")  # dall-e-3, 1024x1024, standard
    page.get_by_label("Quality").select_option("hd")
    expect(price).to_contain_text("0.08")
    _swapped(page)
    page.get_by_label("Model", exact=True).select_option("dall-e-2")
    expect(page.get_by_label("Size").locator("option").first).to_have_text("256x256")
    expect(page.get_by_label("Size").locator("option")).to_have_count(3)
    expect(page.get_by_label("Quality")).to_have_count(0)
    _swapped(page)
    page.get_by_label("Size").select_option("256x256")
    expect(price).to_contain_text("0.008")
    page.get_by_label("Prompt").fill("a small paper boat")
    shot(page, "images-02-studio")
    page.get_by_role("button", name="Start").click()
    card = page.locator('.job-card[data-job-kind="image"]').first
    expect(card).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    expect(card.locator("img").first).to_be_visible()
    expect(page).to_have_url(re.compile(r"/studio/jobs/"))
    assert not page.console_errors  # type: ignore[attr-defined]
