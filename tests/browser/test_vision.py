"""Images in the composer, as a member uses them: paste a picture, send it to a model that can
see, find its thumbnail in the message and the demo gateway's description in the reply; attach
one with the file input for a model that cannot see and choose to switch."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("PARLOR_VISION_SHOTS", "")

PASTE_RED_PICTURE = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 320; canvas.height = 200;
  const context = canvas.getContext("2d");
  context.fillStyle = "rgb(220, 30, 30)";
  context.fillRect(0, 0, 320, 200);
  const blob = await new Promise((done) => canvas.toBlob(done, "image/png"));
  const data = new DataTransfer();
  data.items.add(new File([blob], "pasted.png", { type: "image/png" }));
  const area = document.getElementById("composer-text");
  area.focus();
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  area.dispatchEvent(new ClipboardEvent("paste", init));
}"""


def _png(size, colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def _screenshot(page, name: str) -> None:
    shot(page, name)
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def test_paste_an_image_and_the_vision_model_describes_it(page, server_url):
    _setup_or_login(page, server_url)
    page.get_by_role("button", name="New chat").first.click()
    expect(page.get_by_label("Model", exact=True)).to_have_value("gpt-4o-mini")
    page.wait_for_load_state()  # the deferred attach.js listens for pastes from then on

    page.evaluate(PASTE_RED_PICTURE)
    chip = page.locator("#attachment-tray .attachment-chip")
    expect(chip).to_have_count(1)
    expect(chip.locator("img")).to_have_js_property("complete", True)
    page.get_by_label("Message").fill("What colour is this?")
    _screenshot(page, "vision-01-pasted")
    page.get_by_role("button", name="Send").click()

    question = page.locator('[data-message-role="user"]').last
    thumbnail = question.locator(".message-images img")
    expect(thumbnail).to_have_count(1)
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(reply).to_contain_text("I can see 1 image.")
    expect(reply).to_contain_text("320x200 pixels, mostly red")
    assert thumbnail.evaluate("img => img.naturalWidth") > 0  # served through the access rule
    expect(page.locator("#attachment-tray .attachment-chip")).to_have_count(0)
    _screenshot(page, "vision-02-described")

    # The full-size view is the picture as sent.
    href = question.locator("a.message-image").get_attribute("href")
    full = page.request.get(server_url + href)
    assert full.status == 200 and full.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(full.body())).size == (320, 200)

    # A model that cannot see: the file input attaches, the send offers a choice.
    page.get_by_label("Model", exact=True).select_option("demo-fast")
    expect(page.locator(".settings-status")).to_contain_text("Settings saved.")
    page.get_by_label("Attach images").set_input_files(
        [{"name": "blue.png", "mimeType": "image/png", "buffer": _png((90, 60), (40, 80, 220))}]
    )
    expect(page.locator("#attachment-tray .attachment-chip")).to_have_count(1)
    page.get_by_label("Message").fill("And this one?")
    page.get_by_role("button", name="Send").click()
    choice = page.locator("#vision-choice")
    expect(choice).to_contain_text("demo-fast cannot see images.")
    expect(page.get_by_label("Message")).to_have_value("And this one?")
    _screenshot(page, "vision-03-choice")
    choice.get_by_role("button", name="Switch to gpt-4o-mini").click()

    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_contain_text("90x60 pixels, mostly blue", timeout=30_000)
    expect(reply).to_have_attribute("data-message-status", "complete")
    expect(page.get_by_label("Model", exact=True)).to_have_value("gpt-4o-mini")
    assert page.console_errors == []  # type: ignore[attr-defined]
