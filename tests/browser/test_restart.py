"""Parlor restarted while a reply streams: the open tab reconnects by itself and shows the
reply as interrupted, with the text it had, without a reload."""

from __future__ import annotations

import sys

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import _free_port, parlor_env, running
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser


def test_a_tab_survives_a_restart_mid_reply(page, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "manage.py", "serve", "--port", str(port)]
    env = parlor_env(tmp_path / "data", PARLOR_STREAM_CHECKPOINT_SECONDS="1")

    with running(args, env, tmp_path / "first.log", url + "/health/"):
        _setup_or_login(page, url)
        page.get_by_role("button", name="New chat").first.click()
        page.get_by_label("Message").fill("A long answer please [demo:fixed_tokens:400]")
        page.get_by_role("button", name="Send").click()
        reply = page.locator('[data-message-role="assistant"]').last
        expect(reply).to_have_attribute("data-message-status", "streaming")
        page.wait_for_timeout(2500)  # past a checkpoint
        expect(page.locator("#ws-status")).to_have_text("Connected")

    with running(args, env, tmp_path / "second.log", url + "/health/"):
        expect(reply).to_have_attribute("data-message-status", "interrupted", timeout=30_000)
        expect(reply.locator(".message-error")).to_contain_text("restarted")
        assert len(reply.locator(".message-body").inner_text().split()) >= 10
        expect(page.get_by_role("button", name="Retry")).to_be_visible()
