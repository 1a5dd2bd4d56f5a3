"""Parlor pointed at a gateway of its own (here the demo gateway run as a separate server,
with a pasted `/v1/` base URL and a real-looking key), as an operator would configure it."""

from __future__ import annotations

import sys

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import _free_port, running, serve
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser
KEY = "sk-operator-0a1b2c3d"


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "demo_gateway", "--port", str(port), "--api-key", KEY]
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    with running(args, {}, log, url + "/"):  # the console page needs no key
        yield url


@pytest.fixture(scope="module")
def configured_url(tmp_path_factory, gateway_url):
    url, server = serve(
        tmp_path_factory, GATEWAY_BASE_URL=f"{gateway_url}/v1/", PARLOR_GATEWAY_API_KEY=KEY
    )
    with server:
        yield url


def test_a_configured_gateway_streams_replies_without_the_demo_banner(page, configured_url):
    _setup_or_login(page, configured_url)
    expect(page.locator(".demo-banner")).to_have_count(0)
    page.get_by_role("button", name="New chat").first.click()
    expect(
        page.get_by_label("Model", exact=True).locator("option", has_text="claude-3-5-sonnet")
    ).to_have_count(1)
    expect(
        page.get_by_label("Model", exact=True).locator("option", has_text="dall-e-3")
    ).to_have_count(0)
    page.get_by_label("Message").fill("Hello from an operator")
    page.get_by_role("button", name="Send").click()
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(reply).to_contain_text("Hello from an operator")
    assert KEY.removeprefix("sk-") not in page.content()
