"""The upstream side of voice input and audio translation: read an upload, cut it into
pieces the gateway takes, and send them one after another (async; PyAV runs in a worker
thread, never on the event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from gateway.errors import GatewayError
from voice import transcode
from voice.services import gateway_max_bytes, max_piece_seconds
from voice.sniff import AudioFormat, sniff_audio

Call = Callable[[bytes, str], Awaitable[str]]


class NotAudio(ValueError):
    """What was uploaded is no audio Parlor can read; the message says so in plain words."""


@dataclass(frozen=True)
class Audio:
    data: bytes
    fmt: AudioFormat
    seconds: float


async def read_audio(data: bytes) -> Audio:
    """The upload's format (from its bytes) and length; NotAudio when it is neither a
    format the gateway takes nor readable."""
    fmt = sniff_audio(data)
    if fmt is None:
        raise NotAudio(
            _(
                "This is not an audio file Parlor can read: "
                "use WebM, Ogg, MP4 (M4A), MP3, WAV or FLAC."
            )
        )
    try:
        seconds = await asyncio.to_thread(transcode.duration, data)
    except transcode.AudioUnreadable:
        raise NotAudio(_("This audio file is damaged or empty.")) from None
    if seconds <= 0:
        raise NotAudio(_("This recording is empty."))
    return Audio(data, fmt, seconds)


@dataclass(frozen=True)
class Outcome:
    """What came back: the pieces' text joined, the seconds the gateway handled (what it
    bills), and the error that stopped the rest, if one did."""

    text: str
    seconds: float
    error: GatewayError | None = None


async def run(audio: Audio, call: Call) -> Outcome:
    """Send the audio, split when over the gateway's size or the piece length, to `call`
    (gateway.audio.transcribe or translate, with the file name's extension from the bytes)."""
    try:
        pieces = await asyncio.to_thread(
            transcode.pieces,
            audio.data,
            audio.fmt,
            seconds=audio.seconds,
            max_bytes=gateway_max_bytes(),
            max_seconds=max_piece_seconds(),
        )
    except transcode.AudioUnreadable as exc:
        return Outcome("", 0.0, GatewayError(str(exc), summary=_("This audio file is damaged.")))
    texts: list[str] = []
    seconds = 0.0
    for piece in pieces:
        try:
            text = await call(piece.data, f"audio.{piece.extension}")
        except GatewayError as exc:
            return Outcome(_join(texts), seconds, exc)
        texts.append(text)
        seconds += piece.seconds
    return Outcome(_join(texts), seconds)


def _join(texts: list[str]) -> str:
    return " ".join(t.strip() for t in texts if t.strip())
