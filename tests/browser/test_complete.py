"""The composer's Complete mode as a person meets it on `make run`: choose "Complete", set the
options, type a prompt, watch the completion stream from the demo gateway's instruct model."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

# What the demo instruct model writes first after any prompt (demo_gateway.completions).
CONTINUATION_START = "and so the demo instruct model carries on"


def _open_with_complete_mode(page) -> None:
    """A new chat, reloaded until the gateway's model listing (started by the first page) is
    in: the Complete mode is offered only then."""
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    expect(page.get_by_label("Message")).to_be_visible()
    for _ in range(20):
        if page.locator('#composer-mode option[value="complete"]').count():
            return
        page.wait_for_timeout(250)
        page.reload()
    raise AssertionError("the Complete mode was never offered")


def test_choose_complete_type_a_prompt_and_see_it_stream(page, server_url):
    _setup_or_login(page, server_url)
    _open_with_complete_mode(page)

    options = page.locator("#complete-options")
    expect(options).to_be_hidden()
    page.get_by_label("Media mode").select_option("complete")
    expect(options).to_be_visible()
    expect(page.get_by_placeholder("Prompt to complete")).to_be_visible()
    options.get_by_label("Max tokens").fill("60")
    options.get_by_label("Temperature").fill("0.5")
    options.get_by_label("Stop sequences").fill("END")
    page.get_by_label("Message").fill("Once upon a time")
    shot(page, "complete-01-options")
    page.get_by_role("button", name="Send").click()

    prompt = page.locator('[data-message-role="user"]').last
    expect(prompt).to_contain_text("Once upon a time")
    expect(prompt.locator(".message-mode")).to_contain_text("Complete")
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "streaming")
    expect(reply).to_contain_text(CONTINUATION_START)
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(reply.locator(".completion-text")).to_contain_text(CONTINUATION_START)
    expect(reply.locator(".completion-text")).not_to_contain_text("END")  # the stop sequence
    expect(reply.locator(".message-model")).to_have_text("gpt-3.5-turbo-instruct")
    shot(page, "complete-02-streamed")

    # The composer came back in the same mode, with the same options.
    expect(page.get_by_label("Media mode")).to_have_value("complete")
    expect(options).to_be_visible()
    expect(options.get_by_label("Max tokens")).to_have_value("60")
    expect(options.get_by_label("Stop sequences")).to_have_value("END")

    # Back to chat: the options go away and are not sent.
    page.get_by_label("Media mode").select_option("")
    expect(options).to_be_hidden()
    expect(page.get_by_placeholder("Message")).to_be_visible()
    assert not page.console_errors  # type: ignore[attr-defined]
