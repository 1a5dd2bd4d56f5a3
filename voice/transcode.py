"""Measuring, transcoding and splitting audio with PyAV (the `av` package: FFmpeg inside its
wheels, no system packages).

The gateway takes at most AUDIO_GATEWAY_MAX_MB per request, and a long request is slow and
costly to retry, so a file over that size or longer than AUDIO_MAX_MINUTES is re-encoded to
mono 16 kHz MP3 (what speech recognition uses anyway) and cut into pieces within both limits.
CPU-bound: call these off the event loop (asyncio.to_thread).

PyAV is imported by the functions that use it, not with this module: once imported it holds
about 20 MB of every process, and a web process that never transcodes should not pay that
(benchmarks/README.md, peak RSS)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voice.sniff import MP3, AudioFormat

if TYPE_CHECKING:
    import av

RATE = 16_000
BIT_RATE = 32_000  # mono 16 kHz speech: 4 KB a second, 25 MB holds ~100 minutes
# A piece is cut a little under the byte limit: an MP3's size runs a little over its bit rate.
BYTES_MARGIN = 0.9


class AudioUnreadable(ValueError):
    """The file's container or codec could not be read."""


@dataclass(frozen=True)
class Piece:
    """One request's worth of audio: its bytes, the extension its file name must have, and
    its length in seconds."""

    data: bytes
    extension: str
    seconds: float


def duration(data: bytes) -> float:
    """The audio's length in seconds. A browser's WebM recording has no duration in its
    header: then the last packet's end time is read (demuxed, not decoded)."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioUnreadable("no audio stream")
            stream = container.streams.audio[0]
            if container.duration and container.duration > 0:
                return container.duration / av.time_base
            end = 0.0
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            return end
    except (av.FFmpegError, OSError, ValueError) as exc:
        if isinstance(exc, AudioUnreadable):
            raise
        raise AudioUnreadable(str(exc)) from exc


def pieces(
    data: bytes, fmt: AudioFormat, *, seconds: float, max_bytes: int, max_seconds: float
) -> list[Piece]:
    """`data` as it is when within both limits, else re-encoded and split into pieces that
    each are."""
    if len(data) <= max_bytes and seconds <= max_seconds:
        return [Piece(data, fmt.extension, seconds)]
    by_size = max_bytes * 8 * BYTES_MARGIN / BIT_RATE
    return transcode(data, piece_seconds=max(1.0, min(max_seconds, by_size)))


def transcode(data: bytes, *, piece_seconds: float) -> list[Piece]:
    """Re-encode `data` as mono 16 kHz MP3 pieces of at most `piece_seconds` each."""
    import av
    from av.audio.resampler import AudioResampler

    limit = math.floor(piece_seconds * RATE)
    out: list[Piece] = []
    encoder = _Encoder()
    resampler = AudioResampler(format="s16p", layout="mono", rate=RATE)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioUnreadable("no audio stream")
            for frame in container.decode(container.streams.audio[0]):
                for mono in resampler.resample(frame):
                    encoder = _write(encoder, mono, limit, out)
            for mono in resampler.resample(None):
                encoder = _write(encoder, mono, limit, out)
    except av.FFmpegError as exc:
        raise AudioUnreadable(str(exc)) from exc
    if encoder.samples:
        out.append(encoder.close())
    return out


def _write(encoder: _Encoder, frame: av.AudioFrame, limit: int, out: list[Piece]) -> _Encoder:
    """Write `frame` into the current piece, starting a new piece first if it is full."""
    if encoder.samples and encoder.samples + frame.samples > limit:
        out.append(encoder.close())
        encoder = _Encoder()
    encoder.write(frame)
    return encoder


class _Encoder:
    """One MP3 piece being written."""

    def __init__(self) -> None:
        import av

        self.buffer = io.BytesIO()
        self.container = av.open(self.buffer, mode="w", format="mp3")
        self.stream = self.container.add_stream("libmp3lame", rate=RATE, layout="mono")
        self.stream.bit_rate = BIT_RATE
        self.samples = 0

    def write(self, frame: av.AudioFrame) -> None:
        frame.pts = self.samples
        self.samples += frame.samples
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> Piece:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        return Piece(self.buffer.getvalue(), MP3.extension, self.samples / RATE)
