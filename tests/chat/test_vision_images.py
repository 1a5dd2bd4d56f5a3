"""chat.vision.process_image: what an upload becomes. Decided by the bytes, cleaned of
metadata, turned upright, scaled to what vision models take and small enough for Claude."""

from __future__ import annotations

import base64
import io

import pillow_heif
import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from chat import vision
from tests.chat.images import claims_size, decode, noise, picture

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _codes(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return exc.value.code or ""


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_the_accepted_formats_are_read_from_their_bytes(fmt):
    image = vision.process_image(picture(fmt, (64, 48)))

    assert image.content_type == "image/jpeg"
    assert decode(image.data).format == "JPEG"
    assert (image.width, image.height) == (64, 48)


def test_heic_is_converted_to_jpeg():
    heif = pillow_heif.from_pillow(Image.new("RGB", (120, 80), (10, 200, 40)))
    out = io.BytesIO()
    heif.save(out, quality=80)
    assert out.getvalue()[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix")

    image = vision.process_image(out.getvalue())

    assert image.content_type == "image/jpeg"
    assert decode(image.data).format == "JPEG" and decode(image.data).size == (120, 80)


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>',
        b"<!doctype html><html><script>alert(document.cookie)</script></html>",
        b"GIF89a<script>alert(1)</script>",  # a GIF's magic, then HTML
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,  # a PNG's signature and nothing valid after it
        b"BM" + picture("BMP")[2:],  # a real picture, but not a format Parlor takes
    ],
    ids=["svg", "html", "gif-magic-then-html", "pdf", "broken-png", "bmp"],
)
def test_anything_else_is_refused_whatever_it_claims_to_be(data):
    with pytest.raises(ValidationError) as exc:
        vision.process_image(data)
    assert _codes(exc) in ("not_an_image", "damaged")


def test_an_empty_file_is_refused():
    with pytest.raises(ValidationError) as exc:
        vision.process_image(b"")
    assert _codes(exc) == "empty"


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    bomb = claims_size(60_000, 60_000)  # 3.6 gigapixels in a file of ~70 bytes
    assert len(bomb) < 100

    with pytest.raises(ValidationError) as exc:
        vision.process_image(bomb)
    assert _codes(exc) == "too_many_pixels"


def test_pillows_own_bomb_guard_counts_as_a_refusal(monkeypatch):
    monkeypatch.setattr(vision, "MAX_PIXELS", 10**12)  # past our own check
    with pytest.raises(ValidationError) as exc:
        vision.process_image(claims_size(20_000, 20_000))  # over Pillow's limit
    assert _codes(exc) == "too_many_pixels"


def test_exif_is_dropped_after_the_orientation_is_applied():
    source = Image.new("RGB", (300, 100), (0, 0, 255))
    source.paste((255, 0, 0), (0, 0, 30, 100))  # a red band on the left
    exif = source.getexif()
    exif[ORIENTATION] = 6  # "rotate 90° clockwise to view"
    exif[0x010F] = "Phone maker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    out = io.BytesIO()
    source.save(out, format="JPEG", exif=exif, quality=95)
    assert GPS_IFD in decode(out.getvalue()).getexif()

    image = vision.process_image(out.getvalue())
    result = decode(image.data)

    assert (result.width, result.height) == (100, 300)  # upright: turned as the tag said
    assert result.getpixel((50, 10))[0] > 200  # the red band is now at the top
    assert not result.getexif() and GPS_IFD not in result.getexif()
    assert b"Exif" not in image.data and b"Phone maker" not in image.data
    assert "exif" not in result.info and "icc_profile" not in result.info


def test_png_text_chunks_are_dropped():
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "secret location")
    data = picture("PNG", (40, 40), (0, 0, 0, 128), pnginfo=meta)

    image = vision.process_image(data)

    assert b"secret location" not in image.data


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 1000), (2000, 500)),  # the long side decides
        ((1000, 3000), (667, 2000)),
        ((3000, 2000), (1152, 768)),  # the short side decides
        ((1000, 900), (853, 768)),
        ((800, 600), (800, 600)),
        ((500, 300), (500, 300)),  # small ones are left as they are
    ],
)
def test_pictures_are_scaled_to_what_vision_models_use(size, expected):
    image = vision.process_image(picture("PNG", size))

    assert (image.width, image.height) == expected
    assert decode(image.data).size == expected
    assert max(expected) <= vision.LONG_SIDE and min(expected) <= vision.SHORT_SIDE


def test_the_encoded_image_fits_the_limit_even_when_it_does_not_compress(monkeypatch):
    monkeypatch.setattr(vision, "ENCODED_MAX_BYTES", 60_000)
    data = noise((700, 700))
    assert len(base64.b64encode(data)) > 60_000

    image = vision.process_image(data)

    assert len(base64.b64encode(image.data)) <= 60_000
    assert decode(image.data).size == (image.width, image.height)


def test_a_picture_with_transparency_stays_a_png():
    image = vision.process_image(picture("PNG", (50, 50), (0, 0, 0, 0)))

    assert image.content_type == "image/png" and decode(image.data).mode == "RGBA"


def test_an_opaque_png_becomes_a_jpeg():
    image = vision.process_image(picture("PNG", (50, 50), (0, 0, 0, 255)))

    assert image.content_type == "image/jpeg"


def test_the_thumbnail_is_small():
    image = vision.process_image(picture("PNG", (1600, 900)))

    assert max(decode(image.thumbnail).size) <= vision.THUMBNAIL_SIDE
