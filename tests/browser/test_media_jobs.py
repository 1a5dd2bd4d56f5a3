"""Media jobs as a person meets them on `make run`: imagine on the demo gateway, watch the
progress bar move, press U1, see the upscaled child. Needs the poller (media_jobs.poller)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_accessibility import UNNAMED_CONTROLS
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

JOB_TIMEOUT = 60_000  # ms; a demo job takes ~10 s


def _progress(card) -> int:
    return int(card.locator("progress").get_attribute("value") or 0)


def test_imagine_watch_the_progress_then_upscale(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("link", name="Studio").first.click()
    page.get_by_role("link", name="Imagine").click()
    page.get_by_label("Prompt").fill("a lighthouse at dusk [demo:duration:8]")
    page.get_by_role("button", name="Start").click()

    card = page.locator('.job-card[data-job-kind="midjourney"]').first
    expect(card).to_be_visible()
    running = page.locator('.job-card[data-job-status="running"]').first
    expect(running.locator("progress")).to_be_visible(timeout=JOB_TIMEOUT)
    first = _progress(running)
    shot(page, "media-01-running")
    # A keyboard user on the card's Cancel button keeps the focus in the card as pushes
    # replace it: on Cancel while it runs, on the card's first control once it is done.
    running.get_by_role("button", name="Cancel").focus()
    # The bar moves: a later push shows more progress, or the job is done.
    page.wait_for_function(
        """(first) => {
            const card = document.querySelector('.job-card[data-job-kind="midjourney"]');
            const bar = card && card.querySelector('progress');
            return card && (card.dataset.jobStatus === 'succeeded' || (bar && bar.value > first));
        }""",
        arg=first,
        timeout=JOB_TIMEOUT,
    )
    page.wait_for_function(
        """() => {
            const card = document.querySelector('.job-card[data-job-kind="midjourney"]');
            const focused = document.activeElement;
            if (!card || !card.contains(focused)) return false;
            return card.dataset.jobStatus !== 'running' || focused.textContent.trim() === 'Cancel';
        }""",
        timeout=5_000,
    )
    done = page.locator('.job-card[data-job-status="succeeded"]').first
    expect(done).to_be_visible(timeout=JOB_TIMEOUT)
    expect(done.locator("img").first).to_be_visible()
    shot(page, "media-02-grid")

    done.get_by_role("button", name="U1", exact=True).click()
    child = page.locator('.job-card[data-job-kind="midjourney"]').nth(1)
    expect(child).to_be_visible()
    expect(child.get_by_role("link", name="from Imagine")).to_be_visible()
    expect(child).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    expect(child.locator("img").first).to_be_visible()
    shot(page, "media-03-upscaled")

    # On the upscaled picture's page: every control is named; Vary (Region) paints a mask
    # with the keyboard alone and starts a grandchild. Its button works before the page's
    # deferred mask.js has run (held back here: an empty script), and the editor appears in
    # the open dialog once it has.
    page.route(
        "**/js/mask.js*",
        lambda route: route.fulfill(body="", content_type="text/javascript"),
    )
    child.get_by_role("link", name="Upscale 1").click()
    page.wait_for_load_state()
    expect(page.locator(".job-card").first).to_have_attribute("data-job-status", "succeeded")
    assert page.evaluate(UNNAMED_CONTROLS) == []
    page.get_by_role("button", name="🖌️ Vary (Region)…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    canvas = dialog.locator("canvas")
    expect(canvas).to_have_count(0)
    page.unroute("**/js/mask.js*")
    src = page.locator('script[src*="mask.js"]').get_attribute("src")
    assert src
    page.add_script_tag(url=f"{server_url}{src}{'&' if '?' in src else '?'}late=1")
    expect(canvas).to_be_visible()
    canvas.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Space")
    expect(dialog.locator("[data-mask-output]")).to_have_value(
        re.compile("^data:image/png;base64,")
    )
    dialog.get_by_label("Prompt").fill("a red lantern")
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog).to_be_hidden()
    region = page.locator("#job-list .job-card").first
    expect(region).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    shot(page, "media-05-vary-region")
    assert not page.console_errors  # type: ignore[attr-defined]


def test_slash_commands_start_jobs_in_the_thread(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    page.get_by_label("Message").fill("/suno a sea shanty about lighthouses [demo:duration:3]")
    page.get_by_role("button", name="Send").click()

    expect(page.locator('[data-message-role="user"]').last).to_contain_text("/suno a sea shanty")
    song = page.locator('.job-card[data-job-kind="suno"]').first
    expect(song).to_be_visible()
    expect(song).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    expect(song.locator("audio")).to_have_count(2)  # new-api Suno makes two clips

    # The composer's media mode does the same without typing the command.
    page.get_by_label("Media mode", exact=True).select_option("luma")
    page.get_by_label("Message").fill("waves at night [demo:duration:3]")
    page.get_by_role("button", name="Send").click()
    video = page.locator('.job-card[data-job-kind="luma"]').first
    expect(video).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    # A <video> player, or the picture itself when the stored file is a GIF (the demo's is).
    expect(video.locator("video, .job-result > img").first).to_be_visible()
    shot(page, "media-04-thread")

    page.reload()  # stored: the cards come back with the page
    expect(page.locator(".job-card")).to_have_count(2)
    assert not page.console_errors  # type: ignore[attr-defined]


def _thread_order(page) -> list[str]:
    """The thread's children as "user:<text>", "assistant" or "card:<kind>:<title>"."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#thread > *')).map((el) =>
            el.classList.contains('job-card')
              ? 'card:' + el.dataset.jobKind + ':'
                + el.querySelector('.job-title').textContent.trim()
              : el.dataset.messageRole === 'user'
                ? 'user:' + el.querySelector('.message-body').textContent.trim()
                : el.dataset.messageRole || el.tagName)"""
    )


def test_cards_sit_in_the_thread_where_they_happened(page, server_url):
    """/imagine A, a chat message, /imagine B: in that order, each card after its command;
    U1 on A puts the upscale after what was there, linked to A; the same after a reload."""
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    composer = page.get_by_label("Message")

    composer.fill("/imagine a red fox [demo:duration:3]")
    page.get_by_role("button", name="Send").click()
    fox = page.locator('#thread > .job-card[data-job-kind="midjourney"]').first
    expect(fox).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    # The job named the conversation, in the heading and the sidebar.
    expect(page.locator("#conversation-title")).to_have_text("a red fox [demo:duration:3]")

    composer.fill("What should I call it?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator('[data-message-role="assistant"]').last).to_have_attribute(
        "data-message-status", "complete", timeout=JOB_TIMEOUT
    )

    composer.fill("/imagine a blue owl [demo:duration:3]")
    page.get_by_role("button", name="Send").click()
    owl = page.locator('#thread > .job-card[data-job-kind="midjourney"]').nth(1)
    expect(owl).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)

    fox.get_by_role("button", name="U1", exact=True).click()
    upscale = page.locator("#thread > .job-card").nth(2)
    expect(upscale.locator(".job-title")).to_have_text("Upscale 1")
    expect(upscale).to_have_attribute("data-job-status", "succeeded", timeout=JOB_TIMEOUT)
    shot(page, "media-06-thread-order")

    expected = [
        "user:/imagine a red fox [demo:duration:3]",
        "card:midjourney:Imagine",
        "user:What should I call it?",
        "assistant",
        "user:/imagine a blue owl [demo:duration:3]",
        "card:midjourney:Imagine",
        "card:midjourney:Upscale 1",
    ]
    assert _thread_order(page) == expected
    # "from Imagine" goes to the parent's card on this page.
    upscale.get_by_role("link", name="from Imagine").click()
    expect(fox).to_be_focused()
    expect(fox).to_be_in_viewport()

    page.reload()
    expect(page.locator("#thread > .job-card")).to_have_count(3)
    assert _thread_order(page) == expected
    # Nothing floats over a card's buttons: "Jump to latest" stays clear of them.
    page.locator("#main").evaluate("(el) => el.scrollTo(0, 0)")
    jump = page.locator("#jump-latest")
    if jump.is_visible():
        box = jump.bounding_box()
        for button in page.locator("#thread .job-buttons button").all():
            other = button.bounding_box()
            if box and other:
                apart = (
                    box["x"] + box["width"] <= other["x"]
                    or other["x"] + other["width"] <= box["x"]
                    or box["y"] + box["height"] <= other["y"]
                    or other["y"] + other["height"] <= box["y"]
                )
                assert apart
    assert not page.console_errors  # type: ignore[attr-defined]
