"""Text to speech: POST /v1/audio/speech (docs/gateway-api.md, "Audio").

The answer is the audio itself, streamed. A gateway also answers errors inside a 200 (a JSON
error body, or its console's HTML page), so the Content-Type is checked before a byte is
taken as audio: anything but `audio/*` (or `application/octet-stream`, which some relays send
for audio) is read as an error and raised with the gateway's message. The input limit is the
caller's business (chat.speech_text splits a reply into parts the gateway accepts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from django.utils.translation import gettext_noop

from gateway.client import ERROR_BODY_MAX_BYTES, get_client
from gateway.errors import (
    GatewayError,
    _json_or_none,
    error_from_exception,
    error_from_response,
    error_message_and_code,
)

PATH = "/v1/audio/speech"
FORMATS = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
EXTENSIONS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav", "pcm": "pcm"}


class GatewayNotAudio(GatewayError):
    """A 2xx answer to a speech request that is not audio (an error inside a 200)."""

    summary = gettext_noop("The gateway sent something other than audio.")
    with_message = gettext_noop("The gateway sent an error instead of audio: {message}")


def is_audio(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith("audio/") or kind == "application/octet-stream"


def not_audio_error(status: int, content_type: str, body: bytes) -> GatewayError:
    """The error an answer that is not audio stands for: a non-2xx status as any gateway
    error; a 2xx with a JSON error body as GatewayNotAudio with its message; a 2xx web page
    or anything else as a reply that could not be read."""
    if not 200 <= status < 300:
        return error_from_response(status, content_type, body)
    data = _json_or_none(body)
    message, _code = error_message_and_code(data) if data is not None else ("", "")
    if message:
        detail = f"{content_type or 'no content type'}: {body[:500].decode('utf-8', 'replace')}"
        return GatewayNotAudio(detail, status=status, message=message)
    return error_from_response(status, content_type, body)


@dataclass
class SpeechStream:
    """An audio answer whose headers have arrived; `chunks()` yields its body as it comes."""

    content_type: str
    response: httpx.Response

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_bytes():
                if chunk:
                    yield chunk
        except httpx.HTTPError as exc:
            raise error_from_exception(exc, mid_stream=True) from exc
        finally:
            await self.response.aclose()

    async def aclose(self) -> None:
        await self.response.aclose()


async def open_speech(
    *, text: str, voice: str, speed: float, model: str, response_format: str = "mp3"
) -> SpeechStream:
    """Ask for `text` read by `voice` at `speed`; returns once the audio starts arriving.
    Raises a GatewayError for a refusal, a failure or a 200 that is not audio."""
    client = get_client()
    body = {
        "model": model,
        "input": text,
        "voice": voice,
        "speed": speed,
        "response_format": response_format,
    }
    try:
        response = await client.send(client.build_request("POST", PATH, json=body), stream=True)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from exc
    content_type = response.headers.get("content-type", "")
    if response.is_success and is_audio(content_type):
        return SpeechStream(content_type=content_type.split(";", 1)[0].strip(), response=response)
    try:
        error_body = await _read_capped(response)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc, mid_stream=True) from exc
    finally:
        await response.aclose()
    raise not_audio_error(response.status_code, content_type, error_body)


async def speak(
    *, text: str, voice: str, speed: float, model: str, response_format: str = "mp3"
) -> bytes:
    """The whole audio of `text` (see open_speech)."""
    stream = await open_speech(
        text=text, voice=voice, speed=speed, model=model, response_format=response_format
    )
    return b"".join([chunk async for chunk in stream.chunks()])


async def _read_capped(response: httpx.Response) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= ERROR_BODY_MAX_BYTES:
            break
    return bytes(data[:ERROR_BODY_MAX_BYTES])
