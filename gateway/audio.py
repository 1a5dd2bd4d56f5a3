"""Speech to text through the gateway: `POST /v1/audio/transcriptions` and
`/v1/audio/translations` (multipart; docs/gateway-api.md, "Audio").

The file name's extension must match the bytes: new-api measures the duration to bill by a
parser chosen from the name, and a wrong or missing extension fails the call with a 500
`count_audio_tokens_failed` (raised here as GatewayAudioUnreadable, in plain words). Callers
name files from the bytes (voice.sniff), never from what the browser said.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from django.utils.translation import gettext_noop

from gateway.client import get_client
from gateway.errors import (
    GatewayBadResponse,
    GatewayError,
    error_from_exception,
    error_from_response,
    error_message_and_code,
    text,
)
from gateway.redact import redact

TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"
DEFAULT_MODEL = "whisper-1"
# new-api's code when it could not measure an upload's duration (a name that lies).
UNREADABLE_CODES = frozenset({"count_audio_tokens_failed"})
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "mp4": "audio/mp4",
    "m4a": "audio/mp4",
    "mpeg": "audio/mpeg",
    "mpga": "audio/mpeg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
    "flac": "audio/flac",
}


class GatewayAudioUnreadable(GatewayError):
    summary = gettext_noop(
        "The gateway could not read this recording's format or length. "
        "Try another recording or file."
    )
    with_message = ""


async def transcribe(
    file_bytes: bytes,
    filename: str,
    *,
    language: str = "",
    model: str = DEFAULT_MODEL,
    prompt: str = "",
) -> str:
    """The text spoken in the file; `language` (ISO-639-1) when known, else detected."""
    fields = {"model": model, "response_format": "json"}
    if language:
        fields["language"] = language
    if prompt:
        fields["prompt"] = prompt
    return await _post(TRANSCRIPTIONS, file_bytes, filename, fields)


async def translate(
    file_bytes: bytes, filename: str, *, model: str = DEFAULT_MODEL, prompt: str = ""
) -> str:
    """The file's speech translated into English."""
    fields = {"model": model, "response_format": "json"}
    if prompt:
        fields["prompt"] = prompt
    return await _post(TRANSLATIONS, file_bytes, filename, fields)


async def _post(path: str, file_bytes: bytes, filename: str, fields: dict[str, str]) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    content_type = CONTENT_TYPES.get(extension, "application/octet-stream")
    files = {"file": (filename, file_bytes, content_type)}
    try:
        response = await get_client().post(path, data=fields, files=files)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from None
    return parse_text(response)


def parse_text(response: httpx.Response) -> str:
    """The transcript of a JSON answer (`{"text": ...}`) or a plain-text one
    (response_format text); any error answer raises."""
    content_type = response.headers.get("content-type", "")
    if not response.is_success:
        try:
            data: Any = json.loads(response.content)
        except ValueError:
            data = None
        _message, code = error_message_and_code(data)
        if code in UNREADABLE_CODES:
            raise GatewayAudioUnreadable(
                response.content.decode("utf-8", "replace"), status=response.status_code
            )
        raise error_from_response(response.status_code, content_type, response.content)
    if "json" in content_type:
        try:
            data = response.json()
        except ValueError:
            raise GatewayBadResponse("unreadable JSON", status=response.status_code) from None
        if isinstance(data, dict) and "text" in data and not isinstance(data["text"], dict):
            return redact(text(data["text"]).strip())
        raise GatewayBadResponse(f"no text in {str(data)[:200]}", status=response.status_code)
    if content_type.startswith("text/plain"):
        return redact(response.text.strip())
    raise error_from_response(response.status_code, content_type, response.content)
