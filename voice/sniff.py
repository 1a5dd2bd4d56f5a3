"""What kind of audio a file holds, decided from its first bytes: never from the browser's
content type or the file's name (iOS Safari records audio/mp4 while claiming webm).

The gateway measures a file's duration with a parser chosen by the file name's extension, so
the name sent upstream must say what the bytes are (docs/gateway-api.md, "Audio")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioFormat:
    extension: str  # what the file name sent upstream ends with
    content_type: str


WEBM = AudioFormat("webm", "audio/webm")
OGG = AudioFormat("ogg", "audio/ogg")
M4A = AudioFormat("m4a", "audio/mp4")
MP3 = AudioFormat("mp3", "audio/mpeg")
WAV = AudioFormat("wav", "audio/wav")
FLAC = AudioFormat("flac", "audio/flac")

HEAD_BYTES = 16  # enough to tell every format here apart


def _is_mpeg_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a known version and layer III/II/I."""
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    return version != 0b01 and layer != 0b00


def sniff_audio(data: bytes) -> AudioFormat | None:
    """The audio format of `data`, or None for anything else (video containers included
    only as far as their audio is concerned: an mp4 with ftyp is read as m4a)."""
    head = data[:HEAD_BYTES]
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska / WebM
        return WEBM
    if head.startswith(b"OggS"):
        return OGG
    if head[4:8] == b"ftyp":  # ISO base media: mp4, m4a, 3gp, mov (Safari's audio/mp4)
        return M4A
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"ID3") or _is_mpeg_frame(head):  # an ID3v2 tag, or a bare frame
        return MP3
    return None
