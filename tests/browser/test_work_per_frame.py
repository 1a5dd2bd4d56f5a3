"""The script's work per streamed frame is proportional to the frame, not to the page: in a
long thread a frame of text deltas makes it visit no element, and no frame makes it visit
more than what that frame swapped in. Send and Stop follow the server's frames alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser

COPIES = 40  # copies of the first exchange: a thread of some thousands of elements

INFLATE_THREAD = """(copies) => {
  const thread = document.getElementById("thread");
  const originals = Array.from(thread.children);
  for (let i = 0; i < copies; i++) {
    for (const article of originals) {
      const copy = article.cloneNode(true);
      copy.removeAttribute("id");
      copy.querySelectorAll("[id]").forEach((el) => el.removeAttribute("id"));
      thread.insertBefore(copy, thread.firstChild);
    }
  }
  return thread.getElementsByTagName("*").length;
}"""

START_COUNTING = """() => {
  window.__parlorEnhanced = [];
  document.documentElement.setAttribute("data-test-enhance", "");
}"""


def test_work_per_frame_does_not_grow_with_the_thread(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    send, stop = page.locator("#composer-send"), page.locator("#stop-form")
    page.get_by_label("Message").fill("First question")
    send.click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)

    thread_elements = page.evaluate(INFLATE_THREAD, COPIES)
    assert thread_elements > 5000
    page.evaluate(START_COUNTING)

    page.get_by_label("Message").fill("Second question")
    send.click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "streaming")
    # The server's first frame sets the controls; the script no longer derives them.
    expect(stop).to_be_visible()
    expect(send).to_be_disabled()
    expect(page.locator("#composer")).to_have_attribute("aria-busy", "true")
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(stop).to_be_hidden()
    expect(send).to_be_enabled()
    expect(page.locator("#composer")).to_have_attribute("aria-busy", "false")

    visited = page.evaluate("window.__parlorEnhanced")
    final_elements = reply.evaluate("el => el.getElementsByTagName('*').length + 1")
    # Many frames of deltas, each visiting nothing; the largest frame is the finished
    # reply with the controls, nowhere near the thread.
    assert len(visited) >= 10, visited
    assert sorted(visited)[len(visited) // 2] == 0, visited
    assert max(visited) <= final_elements + 50, (max(visited), final_elements)
    assert max(visited) * 10 < thread_elements

    # What was swapped in was enhanced: the new reply's code has its copy button and its
    # maths is typeset.
    expect(reply.locator(".codeblock > .copy-btn")).to_have_count(1)
    expect(reply.locator(".math .katex").first).to_be_visible()
    assert page.console_errors == []
