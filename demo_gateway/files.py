"""Small real media files for the demo gateway, made with the standard library only.

PNG (zlib + struct), WAV (the `wave` module) and an animated GIF (LZW written by hand with
8-bit codes and a clear code every 100 pixels, so no dictionary is needed). Pictures are
derived from a seed string, so one task always gets the same picture.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
import zlib
from functools import lru_cache

SIZE = 256
Colour = bytes  # 3 bytes, RGB


def _palette(seed: str, count: int) -> list[Colour]:
    digest = hashlib.sha256(seed.encode()).digest()
    return [bytes(64 + b // 2 for b in digest[i * 3 : i * 3 + 3]) for i in range(count)]


def _tile(size: int, colour: Colour, accent: Colour) -> list[bytes]:
    """Rows of a tile: a vertical shade with a disc in the middle."""
    rows, radius, centre = [], size * 0.3, size / 2
    for y in range(size):
        shade = 0.55 + 0.45 * y / size
        bg = bytes(int(v * shade) for v in colour)
        dy = y + 0.5 - centre
        if abs(dy) < radius:
            half = int(math.sqrt(radius * radius - dy * dy))
            left = int(centre) - half
            rows.append(bg * left + accent * (2 * half) + bg * (size - left - 2 * half))
        else:
            rows.append(bg * size)
    return rows


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG from `height` rows of `width * 3` bytes."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


@lru_cache(maxsize=256)
def picture(seed: str, *, grid: bool = False, size: int = SIZE) -> bytes:
    """A `size` x `size` PNG: one tile, or a 2x2 grid of four (a Midjourney grid)."""
    colours = _palette(seed, 8)
    if not grid:
        return png(size, size, _tile(size, colours[0], colours[1]))
    half = size // 2
    tiles = [_tile(half, colours[i], colours[i + 4]) for i in range(4)]
    rows = [a + b for a, b in zip(tiles[0], tiles[1], strict=True)]
    rows += [c + d for c, d in zip(tiles[2], tiles[3], strict=True)]
    return png(size, size, rows)


@lru_cache(maxsize=64)
def tune(seed: str, seconds: float = 3.0, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV: four notes picked from the seed, with a short fade on each."""
    digest = hashlib.sha256(seed.encode()).digest()
    notes = [220.0 * 2 ** ((digest[i] % 12) / 12) for i in range(4)]
    per_note = int(rate * seconds / len(notes))
    samples = bytearray()
    for freq in notes:
        for n in range(per_note):
            envelope = min(1.0, n / 200, (per_note - n) / 200)
            value = int(12000 * envelope * math.sin(2 * math.pi * freq * n / rate))
            samples += struct.pack("<h", value)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(samples))
    return out.getvalue()


_GIF_MIN_CODE = 7  # 128 colours; codes stay 8 bits wide while under 256
_GIF_CLEAR, _GIF_END = 1 << _GIF_MIN_CODE, (1 << _GIF_MIN_CODE) + 1
_GIF_RUN = 100  # pixels per clear code: the table never reaches 256 entries


def _lzw(pixels: bytes) -> bytes:
    codes = bytearray()
    for start in range(0, len(pixels), _GIF_RUN):
        codes.append(_GIF_CLEAR)
        codes += pixels[start : start + _GIF_RUN]
    codes.append(_GIF_END)
    blocks = b"".join(
        bytes([len(codes[i : i + 255])]) + codes[i : i + 255] for i in range(0, len(codes), 255)
    )
    return bytes([_GIF_MIN_CODE]) + blocks + b"\x00"


@lru_cache(maxsize=32)
def clip(seed: str, width: int = 160, height: int = 90, frames: int = 12) -> bytes:
    """An animated, looping GIF: a block sliding across a gradient, 0.1 s per frame."""
    colours = _palette(seed, 2)
    table = b"".join(
        bytes(int(c * (0.3 + 0.7 * i / 63)) for c in colours[0]) for i in range(64)
    ) + b"".join(bytes(int(c * (0.5 + 0.5 * i / 63)) for c in colours[1]) for i in range(64))
    background = bytes(x * 64 // width for x in range(width))
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF6, 0, 0) + table)
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    box = height // 2
    for frame in range(frames):
        left = (width - box) * frame // max(1, frames - 1)
        row_with_box = background[:left] + bytes([100]) * box + background[left + box :]
        top = (height - box) // 2
        pixels = b"".join(
            row_with_box if top <= y < top + box else background for y in range(height)
        )
        out += b"\x21\xf9\x04\x00" + struct.pack("<H", 10) + b"\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + _lzw(pixels)
    return bytes(out + b"\x3b")
