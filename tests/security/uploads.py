"""The upload corpus: the hostile files every upload endpoint gets (test_uploads.py)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

HTML = b"<!doctype html><html><body><script>alert(document.domain)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(document.cookie)</script></svg>"
)
# Valid GIF magic, and JavaScript once the header is read as a comment.
GIF_POLYGLOT = b"GIF89a/*\x00\x00\x00\x00*/=1;alert(document.domain)//" + HTML
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(x) print showpage\n"


def png(size: tuple[int, int] = (16, 16), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "navy").save(buffer, fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG that claims 10 gigapixels in a few hundred bytes (a decompression bomb's header):
    only the header need be read to refuse it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


# A real PNG with a page after its end.
PNG_THEN_HTML = png() + HTML

# name -> (file name, bytes). A refusal or a safely stored file, never a page from our origin.
CORPUS: dict[str, tuple[str, bytes]] = {
    "html as png": ("photo.png", HTML),
    "gif polyglot": ("photo.gif", GIF_POLYGLOT),
    "png then html": ("photo.png", PNG_THEN_HTML),
    "svg with script": ("icon.svg", SVG),
    "svg as png": ("icon.png", SVG),
    "eps": ("photo.png", EPS),
    "zero bytes": ("empty.png", b""),
    "decompression bomb": ("bomb.png", bomb_png()),
    "truncated": ("cut.png", png((64, 64))[:60]),
    "wrong extension": ("photo.html", png()),
    "traversal and control chars": ("../../../etc/\x00\x07pass\u202egnp.html", png()),
    "bmp": ("photo.png", png(fmt="BMP")),
}
