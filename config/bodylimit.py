"""A cap on every HTTP request body, applied in front of Django (config.asgi).

Django's own caps (DATA_UPLOAD_MAX_MEMORY_SIZE and friends) act only once a view or a
middleware reads `request.POST`, after the ASGI handler has spooled the whole body; a
CSRF refusal of an anonymous POST comes after that too. Here a request whose declared
Content-Length is over the limit is answered 413 before one body byte is read, and a body
without a length (chunked) is counted as it arrives and cut off at the limit.

The limit is REQUEST_MAX_BODY_BYTES, except on the few routes that take bigger uploads on
purpose (voice recordings, chat image attachments), whose own limits follow their settings
plus room for the multipart envelope; those views refuse an oversized upload themselves,
with a message, and this only keeps them from being sent far more than that.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

ENVELOPE_BYTES = 1024 * 1024
REFUSAL = b"Request body too large.\n"

_RECORDINGS = re.compile(r"^/c/[0-9a-fA-F-]{36}/recordings/$")
_ATTACHMENTS = re.compile(r"^/c/[0-9a-fA-F-]{36}/attachments/$")


def limit_for(path: str) -> int:
    """The most body bytes a request to `path` may carry."""
    limit = int(settings.REQUEST_MAX_BODY_BYTES)
    if _RECORDINGS.match(path):
        upload = int(float(settings.AUDIO_UPLOAD_MAX_MB) * 1024 * 1024)
        return max(limit, upload + ENVELOPE_BYTES)
    if _ATTACHMENTS.match(path):
        each = int(float(settings.ATTACHMENT_MAX_MB) * 1024 * 1024)
        return max(limit, each * int(settings.ATTACHMENT_MAX_FILES) + ENVELOPE_BYTES)
    return limit


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send) -> None:
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(REFUSAL)).encode()),
            (b"connection", b"close"),
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": REFUSAL})


class BodyLimitMiddleware:
    """Wraps the HTTP application (config.asgi; `manage.py serve` serves the same one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""))
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send)
            return
        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The application sees a client gone away (Django: RequestAborted, no
                    # response); the refusal is sent below.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the 413 below is the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if over and not started:
            await _refuse(send)


# --- daphne -------------------------------------------------------------------------------
#
# daphne (on Twisted) receives a request's whole body before it calls the application, and
# Twisted parses a multipart or urlencoded POST body into arguments on the way (daphne never
# uses them): a 150 MB multipart POST took 2 GB there, whatever the application answered.
# `manage.py serve` installs this guard before it builds the server: the body is never
# parsed by Twisted, and a body over the route's limit (declared, or counted as it arrives)
# is dropped as it comes instead of stored, then answered 413 without calling the
# application.


class _Discard:
    """Where an oversized body goes: nowhere."""

    closed = False

    def write(self, data: bytes) -> None:
        pass

    def read(self, size: int = -1) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


def bounded_request_class(base: Any) -> Any:
    """daphne's WebRequest, bounded."""

    class BoundedWebRequest(base):
        _body_limit = 0
        _body_seen = 0
        _body_over = False

        def gotLength(self, length: int | None) -> None:
            path = getattr(self.channel, "_path", b"") or b""
            self._body_limit = limit_for(path.split(b"?", 1)[0].decode("latin-1"))
            if length is not None and length > self._body_limit:
                self._body_over = True
                self.content = _Discard()
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:
            if self._body_over:
                return
            self._body_seen += len(data)
            if self._body_seen > self._body_limit:
                self._body_over = True
                self.content.close()
                self.content = _Discard()
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
            if not self._body_over:
                self._parsePOSTFormSubmission = False  # daphne reads the body, not these
                super().requestReceived(command, path, version)
                return
            self.method, self.uri, self.clientproto = command, path, version
            self.path = path.split(b"?", 1)[0]
            self.basic_error(413, b"Content Too Large", "Request body too large.")
            self.server.protocol_disconnected(self)

    return BoundedWebRequest


def install_daphne_guard() -> None:
    """Make the daphne servers built from now on use the bounded request (daphne's
    HTTPFactory looks its request class up by name when a connection opens)."""
    from daphne import http_protocol

    if not getattr(http_protocol.WebRequest, "_parlor_bounded", False):
        bounded = bounded_request_class(http_protocol.WebRequest)
        bounded._parlor_bounded = True
        http_protocol.WebRequest = bounded
