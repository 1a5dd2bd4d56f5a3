"""Live rendering as a person sees it: while a reply streams, its complete table is already a
table (its maths typeset, its code block with a copy button), before the reply ends.

The reply comes from a tiny gateway of this module's own (run as its own process on loopback)
that streams a table, then holds the reply open until the browser has seen the table, so the
check does not depend on timing."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import _free_port, running, serve
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser
KEY = "sk-live-render-test"
MODEL = "gpt-4o-mini"
BEFORE = [
    "Here ",
    "is a table:\n\n",
    "| Planet | Moons |\n",
    "|---|---:|\n",
    "| Earth | 1 |\n",
    "| Mars | 2 |\n",
    "\n",
    "And maths: $e^{i\\pi} + 1 = 0$.\n\n",
    "```python\n",
    "print('hi')\n",
    "```\n",
    "Still ",
    "writing",
]
AFTER = [" the end."]
# Asked for "open blocks": a table and a code block shown while they are still open, each
# part held until the test has looked (POST /release/rows, then /release/code).
OPEN = {
    "": ["Rows:\n\n", "| Planet | Moons |\n", "|---|---:|\n", "| Earth | 1 |\n", "| Mars |"],
    "rows": [" 2 |\n", "\n", "```python\n", "print('hi')\n"],
    "code": ["print('there')\n", "```\n", "Done."],
}


class _Gateway(BaseHTTPRequestHandler):
    """GET /v1/models and a streamed POST /v1/chat/completions that waits, after BEFORE, until
    POST /release (the test calls it once the browser showed the table)."""

    released = threading.Event()
    phases = {name: threading.Event() for name in OPEN}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/release"):
            type(self).released.set()
            self._json({})
            return
        if "/release/" in self.path:
            type(self).phases[self.path.rpartition("/")[2]].set()
            self._json({})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if b"open blocks" in body:
            for name, pieces in OPEN.items():
                if name:
                    type(self).phases[name].wait(60)
                for piece in pieces:
                    self._event({"content": piece})
            self._event({}, finish="stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            return
        for piece in BEFORE:
            self._event({"content": piece})
        type(self).released.wait(60)
        for piece in AFTER:
            self._event({"content": piece})
        self._event({}, finish="stop")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, delta: dict, finish: str | None = None) -> None:
        chunk = {
            "id": "live",
            "object": "chat.completion.chunk",
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()


def main(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Gateway).serve_forever()


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "tests.browser.test_live_render", str(port)]
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    with running(args, {}, log, url + "/v1/models"):
        yield url


@pytest.fixture(scope="module")
def parlor_url(tmp_path_factory, gateway_url):
    url, server = serve(
        tmp_path_factory, GATEWAY_BASE_URL=f"{gateway_url}/v1/", PARLOR_GATEWAY_API_KEY=KEY
    )
    with server:
        yield url


def test_a_complete_table_is_a_table_while_the_reply_streams(page, parlor_url, gateway_url):
    _setup_or_login(page, parlor_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    page.get_by_label("Message").fill("A table, please")
    page.get_by_role("button", name="Send").click()

    streaming = page.locator('[data-message-role="assistant"][data-message-status="streaming"]')
    expect(streaming.locator("table")).to_be_visible(timeout=15_000)
    expect(streaming.locator("table td").first).to_have_text("Earth")
    expect(streaming.locator(".math.math-inline[data-math-rendered]")).to_have_count(1)
    expect(streaming.locator(".codeblock > .copy-btn")).to_have_count(1)  # as it closed
    expect(streaming.locator(".message-text.streaming")).to_have_text("Still writing")

    page.request.post(gateway_url + "/release")
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(reply.locator("table")).to_have_count(1)
    expect(reply).to_contain_text("Still writing the end.")


def test_an_open_table_and_an_open_code_block_stream_in_their_final_shape(
    page, parlor_url, gateway_url
):
    _setup_or_login(page, parlor_url)
    page.get_by_role("button", name="New chat").or_(
        page.get_by_role("link", name="New chat")
    ).first.click()
    page.get_by_label("Message").fill("Some open blocks, please")
    page.get_by_role("button", name="Send").click()

    streaming = page.locator('[data-message-role="assistant"][data-message-status="streaming"]')
    tail = streaming.locator(".message-text.streaming")
    expect(tail.locator("table tbody tr")).to_have_count(1, timeout=15_000)
    expect(tail.locator("th").last).to_have_text("Moons")
    expect(tail).not_to_contain_text("|")  # no raw markdown: not the delimiter, not "| Mars |"

    page.request.post(gateway_url + "/release/rows")
    code = tail.locator(".codeblock.is-open")
    expect(code.locator("code")).to_have_text("print('hi')\n", timeout=15_000)
    expect(code.locator(".copy-btn")).to_have_count(1)  # Copy from the first line
    expect(streaming.locator("table tbody tr")).to_have_count(2)  # Mars's row, appended
    expect(streaming.locator("table tbody tr").last.locator("td").last).to_have_text("2")
    expect(streaming).not_to_contain_text("```")

    page.request.post(gateway_url + "/release/code")
    reply = page.locator('[data-message-role="assistant"]').last
    expect(reply).to_have_attribute("data-message-status", "complete", timeout=30_000)
    expect(reply.locator(".codeblock code")).to_have_text("print('hi')\nprint('there')\n")
    expect(reply.locator(".codeblock .copy-btn")).to_have_count(1)
    expect(reply.locator("table tbody tr")).to_have_count(2)


if __name__ == "__main__":
    main(int(sys.argv[1]))
