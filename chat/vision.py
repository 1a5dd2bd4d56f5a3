"""Images attached to chat messages: what may be uploaded, how it is made safe and small, and
how it goes upstream.

An upload is decided by its bytes, never by its name or the browser's word: only PNG, JPEG,
WebP, GIF and HEIC/HEIF open (Pillow is told which parsers it may use, so SVG, HTML and the
exotic formats never reach a decoder). The picture is turned upright (EXIF orientation),
re-encoded from its pixels alone (EXIF, GPS, comments and profiles are left behind), scaled to
what vision models use (long side <= LONG_SIDE, short side <= SHORT_SIDE) and encoded so that
its base64 form stays within ENCODED_MAX_BYTES (Claude refuses larger ones, and one refused
image left in the history breaks every later turn).

Upstream (docs/gateway-api.md, "Chat"): a user message with images becomes content parts,
text first, then one `image_url` part per image as a data URI, and only for a model that can
see (chat.models.VisionModel); assistant messages never carry image parts. The parts are built
inside the reply's transaction with ImageRef placeholders (nothing is read from storage while
the database is held) and resolved to data URIs by `resolve_images`, off the event loop, just
before the request goes.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import pillow_heif
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

pillow_heif.register_heif_opener()

# The parsers an upload may reach (Pillow's format names) and what each is called.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "HEIF")
LONG_SIDE = 2000
SHORT_SIDE = 768
# The base64 form of one image (what Claude counts) stays within this.
ENCODED_MAX_BYTES = 5 * 1024 * 1024
THUMBNAIL_SIDE = 256
# Larger pictures are refused before they are decoded (a decompression bomb is a small file
# that claims a huge size): 50 megapixels is more than any phone camera takes.
MAX_PIXELS = 50_000_000
JPEG_QUALITIES = (85, 75, 65, 50)


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes
    thumbnail_extension: str


def process_image(data: bytes) -> ProcessedImage:
    """The upload made safe to store and send; ValidationError (plain words) if it is not a
    picture Parlor takes."""
    if not data:
        raise ValidationError(_("The file is empty."), code="empty")
    too_large = ValidationError(
        _("The picture is too large: at most %(megapixels)d megapixels.")
        % {"megapixels": MAX_PIXELS // 1_000_000},
        code="too_many_pixels",
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise too_large
            image.seek(0)  # an animated GIF or WebP: its first frame
            upright = ImageOps.exif_transpose(image)
            upright.load()
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except UnidentifiedImageError:
        raise ValidationError(
            _("This is not a picture Parlor can read: use PNG, JPEG, WebP, GIF or HEIC."),
            code="not_an_image",
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError):
        raise ValidationError(
            _("The picture could not be read: the file may be damaged."), code="damaged"
        ) from None
    clean = _pixels_only(upright)
    clean = _scaled(clean, LONG_SIDE, SHORT_SIDE)
    data, content_type, extension = _encode_within(clean, ENCODED_MAX_BYTES)
    with Image.open(io.BytesIO(data)) as final:
        width, height = final.size
    thumb = clean.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    thumb_data, _type, thumb_extension = _encode(thumb, quality=80)
    return ProcessedImage(data, content_type, extension, width, height, thumb_data, thumb_extension)


def _has_alpha(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        low = image.convert("RGBA").getchannel("A").getextrema()[0]
        return isinstance(low, int | float) and low < 255
    return False


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new picture from the pixels alone: no EXIF, GPS, XMP, comments or profiles."""
    mode = "RGBA" if _has_alpha(image) else "RGB"
    converted = image.convert(mode)
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    clean.info = {}
    return clean


def _scaled(image: Image.Image, long_side: int, short_side: int) -> Image.Image:
    width, height = image.size
    scale = min(1.0, long_side / max(width, height), short_side / min(width, height))
    if scale >= 1.0:
        return image
    # Rounded: the side that decides lands on its limit exactly, the other within its own.
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _encode(image: Image.Image, *, quality: int = 85) -> tuple[bytes, str, str]:
    out = io.BytesIO()
    if image.mode == "RGBA":
        image.save(out, format="PNG", optimize=True)
        return out.getvalue(), "image/png", "png"
    image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue(), "image/jpeg", "jpg"


def base64_length(size: int) -> int:
    return 4 * math.ceil(size / 3)


def _encode_within(image: Image.Image, limit: int) -> tuple[bytes, str, str]:
    """Lower the JPEG quality, then the size, until the base64 form fits `limit`."""
    while True:
        qualities = JPEG_QUALITIES if image.mode == "RGB" else (0,)
        for quality in qualities:
            encoded = _encode(image, quality=quality)
            if base64_length(len(encoded[0])) <= limit:
                return encoded
        width, height = image.size
        if width <= 16 and height <= 16:
            return encoded
        image = image.resize(
            (max(1, int(width * 0.75)), max(1, int(height * 0.75))), Image.Resampling.LANCZOS
        )


# Upstream


@dataclass(frozen=True)
class ImageRef:
    """An image part's place in a request being prepared: the stored file to send."""

    name: str
    content_type: str


def image_part(ref: ImageRef | str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": ref}}


def has_images(messages: list[dict[str, Any]]) -> bool:
    return any(isinstance(m.get("content"), list) for m in messages)


def resolve_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's messages with every ImageRef read from storage as a data URI (blocking:
    call it in a worker thread). An image whose file is gone becomes a note in the text."""
    from django.core.files.storage import default_storage

    resolved = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            resolved.append(message)
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            ref = part.get("image_url", {}).get("url") if part.get("type") == "image_url" else None
            if not isinstance(ref, ImageRef):
                parts.append(part)
                continue
            try:
                with default_storage.open(ref.name, "rb") as handle:
                    data = handle.read()
            except OSError:
                logger.warning("Attachment file %s is missing", ref.name)
                parts.append({"type": "text", "text": _("(An attached image is missing.)")})
                continue
            uri = f"data:{ref.content_type};base64,{base64.b64encode(data).decode('ascii')}"
            parts.append(image_part(uri))
        resolved.append({**message, "content": parts})
    return resolved
