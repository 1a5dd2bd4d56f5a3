"""Voice fixtures: synthetic audio made with PyAV (a tone, any container), media stored in a
temporary folder, and an upload helper."""

from __future__ import annotations

import io
import math
import struct

import av
import pytest

from tests.factories import make_conversation

# (container, encoder) per format the browser or a member's file may have.
FORMATS = {
    "webm": ("webm", "libopus"),
    "ogg": ("ogg", "libopus"),
    "m4a": ("mp4", "aac"),
    "mp3": ("mp3", "libmp3lame"),
    "wav": ("wav", "pcm_s16le"),
    "flac": ("flac", "flac"),
}


def make_audio(kind: str = "webm", seconds: float = 2.0, rate: int = 48_000) -> bytes:
    """`seconds` of a 440 Hz tone in the container and codec of `kind` (see FORMATS)."""
    container_format, codec = FORMATS[kind]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        written, size = 0, 960
        total = int(seconds * rate)
        while written < total:
            count = min(size, total - written)
            samples = [
                int(8000 * math.sin(2 * math.pi * 440 * (written + i) / rate)) for i in range(count)
            ]
            frame = av.AudioFrame(format="s16", layout="mono", samples=count)
            frame.planes[0].update(struct.pack(f"<{count}h", *samples))
            frame.sample_rate = rate
            frame.pts = written
            for packet in stream.encode(frame):
                container.mux(packet)
            written += count
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="")
