"""config.bodylimit: every HTTP request body is capped before Django reads or parses it,
by its declared Content-Length and by the bytes that actually arrive (chunked bodies)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import ApplicationCommunicator

from config import asgi
from tests.sockets import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 64 * 1024


@pytest.fixture
def small_limit(settings):
    settings.REQUEST_MAX_BODY_BYTES = LIMIT


def _scope(headers: list[tuple[bytes, bytes]], path: str = "/accounts/login/") -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


async def _response(communicator: ApplicationCommunicator) -> tuple[int, bytes]:
    start = await communicator.receive_output(TIMEOUT)
    assert start["type"] == "http.response.start"
    body = b""
    while True:
        message = await communicator.receive_output(TIMEOUT)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return start["status"], body


@pytest.mark.usefixtures("small_limit")
async def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_read():
    declared = str(150 * 1024 * 1024).encode()
    scope = _scope([(b"content-type", b"multipart/form-data; boundary=x"),
                    (b"content-length", declared)])  # fmt: skip
    communicator = ApplicationCommunicator(asgi.application, scope)
    # Nothing is sent: the answer must come without reading a single body message.
    status, body = await _response(communicator)
    await communicator.wait(TIMEOUT)

    assert status == 413
    assert b"too large" in body.lower()


@pytest.mark.usefixtures("small_limit")
async def test_a_streamed_body_is_cut_off_at_the_limit():
    scope = _scope([(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"transfer-encoding", b"chunked")])  # fmt: skip
    communicator = ApplicationCommunicator(asgi.application, scope)
    chunk = b"a" * 16 * 1024
    for _ in range(LIMIT // len(chunk) + 1):  # one chunk over the limit
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": True})
    status, _body = await _response(communicator)
    await communicator.wait(TIMEOUT)

    assert status == 413


@pytest.mark.usefixtures("small_limit")
async def test_a_body_under_the_limit_reaches_django():
    scope = _scope([(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", b"10")], path="/health/")  # fmt: skip
    communicator = ApplicationCommunicator(asgi.application, scope)
    body = {"type": "http.request", "body": b"a=b&c=d&ef", "more_body": False}
    await communicator.send_input(body)
    status, _body = await _response(communicator)
    await communicator.wait(TIMEOUT)

    assert status != 413


def test_the_limits_are_above_every_upload_the_app_takes(settings):
    """A form may carry its biggest upload plus the rest of the form."""
    from config.bodylimit import limit_for
    from media_jobs.forms import IMAGE_MAX_BYTES, MASK_MAX_CHARS

    assert settings.REQUEST_MAX_BODY_BYTES > 5 * IMAGE_MAX_BYTES  # blend: five images
    conversation = "/c/0b7e3c2a-4f6e-4a53-9d59-1c2d3e4f5a6b"
    assert limit_for(f"{conversation}/recordings/") > settings.AUDIO_UPLOAD_MAX_MB * 1024 * 1024
    each = settings.ATTACHMENT_MAX_MB * 1024 * 1024
    assert limit_for(f"{conversation}/attachments/") > each * settings.ATTACHMENT_MAX_FILES
    # A mask (a data URL in a plain field, up to forms.MASK_MAX_CHARS) fits Django's own cap.
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE > MASK_MAX_CHARS


# --- under daphne (manage.py serve) ---------------------------------------------------------


class _Server:
    server_name = "parlor"

    def __init__(self) -> None:
        self.connections: dict = {}

    def protocol_connected(self, protocol) -> None:
        self.connections[protocol] = {}

    def protocol_disconnected(self, protocol) -> None:
        self.connections[protocol]["disconnected"] = True

    def log_action(self, *args) -> None:
        pass


def _daphne_request(path: bytes):
    from daphne.http_protocol import WebRequest
    from twisted.web.test.requesthelper import DummyChannel

    from config.bodylimit import bounded_request_class

    channel: Any = DummyChannel()
    channel.factory = type("Factory", (), {"server": _Server(), "log": lambda self, r: None})()
    channel._path = path
    request = bounded_request_class(WebRequest)(channel)
    return request, channel


@pytest.mark.usefixtures("small_limit")
def test_daphne_drops_a_body_declared_over_the_limit_and_answers_413():
    request, channel = _daphne_request(b"/accounts/login/")
    request.requestHeaders.setRawHeaders(b"content-type", [b"multipart/form-data; boundary=x"])

    request.gotLength(150 * 1024 * 1024)
    for _ in range(10):
        request.handleContentChunk(b"x" * LIMIT)
    assert request.content.tell() == 0  # nothing kept, in memory or on disk
    request.requestReceived(b"POST", b"/accounts/login/", b"HTTP/1.1")

    assert request.code == 413
    assert b"413" in channel.transport.written.getvalue()


@pytest.mark.usefixtures("small_limit")
def test_daphne_stops_keeping_a_streamed_body_at_the_limit():
    request, _channel = _daphne_request(b"/accounts/login/")

    request.gotLength(None)  # chunked
    for _ in range(3):
        request.handleContentChunk(b"x" * (LIMIT // 2))
    assert request.content.tell() == 0  # what came was dropped at the limit
    request.requestReceived(b"POST", b"/accounts/login/", b"HTTP/1.1")

    assert request.code == 413


def test_daphne_never_parses_a_form_body_itself():
    """Twisted parses POST bodies into arguments daphne never reads: a 150 MB multipart
    body cost 2 GB there."""
    body = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n'
    request, _channel = _daphne_request(b"/accounts/login/")
    request.process = lambda: None  # only what Twisted does before daphne's part
    request.requestHeaders.setRawHeaders(b"content-type", [b"multipart/form-data; boundary=x"])
    request.gotLength(len(body))
    request.handleContentChunk(body)

    request.requestReceived(b"POST", b"/accounts/login/", b"HTTP/1.1")

    assert request.args == {}
    assert request.content.read() == body  # daphne hands the body on as it came


def test_serve_installs_the_guard(monkeypatch):
    import daphne.http_protocol

    from config.bodylimit import install_daphne_guard

    monkeypatch.setattr(daphne.http_protocol, "WebRequest", daphne.http_protocol.WebRequest)
    install_daphne_guard()
    install_daphne_guard()  # once only

    bounded = daphne.http_protocol.WebRequest
    assert bounded._parlor_bounded
    assert not getattr(bounded.__mro__[1], "_parlor_bounded", False)
