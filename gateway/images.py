"""The images API through the gateway (docs/gateway-api.md, "Images"):
`POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart).

A call is synchronous and takes 10-60 s, so it gets a read timeout of its own, at least
READ_SECONDS whatever GATEWAY_READ_TIMEOUT says. Every item of an answer is accepted as a
`url` (to download at once: links expire within the hour) or a `b64_json` (decoded here,
capped at MEDIA_MAX_DOWNLOAD_MB, its type read from its bytes like a download's); gpt-image
models answer only `b64_json`, and are never sent `response_format`. dall-e-3 makes one image
per call: `n = 1` is sent for it whatever was asked (`images_sent`), since new-api does not
enforce it and would bill `n` images.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext_noop

from gateway import download as dl
from gateway.client import get_client, read_json
from gateway.errors import GatewayBadResponse, GatewayError, error_from_exception, text
from gateway.redact import redact

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
READ_SECONDS = 180.0
MAX_N = 10


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One picture of an answer: a link to download, or the bytes themselves."""

    url: str = ""
    data: bytes = b""
    content_type: str = ""  # of `data`, read from its bytes
    revised_prompt: str = ""


@dataclass(frozen=True, slots=True)
class ImagesResult:
    items: tuple[ImageItem, ...]
    created: int = 0


class NoImages(GatewayBadResponse):
    summary = gettext_noop("The gateway sent back no pictures.")


def only_b64(model: str) -> bool:
    """gpt-image models answer only `b64_json` and refuse `response_format`."""
    return model.lower().startswith("gpt-image")


def images_sent(model: str, n: int) -> int:
    """How many images a call asks for (and is billed): 1 for dall-e-3, else `n` (1-10)."""
    if model.lower().startswith("dall-e-3"):
        return 1
    return max(1, min(MAX_N, int(n or 1)))


def _timeout() -> httpx.Timeout:
    connect = float(settings.GATEWAY_CONNECT_TIMEOUT)
    read = max(READ_SECONDS, float(settings.GATEWAY_READ_TIMEOUT))
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


async def generate(
    *,
    model: str,
    prompt: str,
    n: int = 1,
    size: str = "",
    quality: str = "",
    style: str = "",
    response_format: str = "",
) -> ImagesResult:
    """Generate images; the body carries only the options that are set."""
    body: dict[str, Any] = {"model": model, "prompt": prompt, "n": images_sent(model, n)}
    for key, value in (("size", size), ("quality", quality), ("style", style)):
        if value:
            body[key] = value
    if response_format and not only_b64(model):
        body["response_format"] = response_format
    try:
        response = await get_client().post(GENERATIONS, json=body, timeout=_timeout())
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from None
    return parse_result(read_json(response))


async def edit(
    *,
    model: str,
    prompt: str,
    image: bytes,
    mask: bytes = b"",
    n: int = 1,
    size: str = "",
    response_format: str = "",
) -> ImagesResult:
    """Edit `image` (PNG, JPEG or WebP bytes) where `mask` (a PNG whose transparent pixels
    mark the region to redraw) allows, or everywhere without a mask: multipart."""
    fields: dict[str, str] = {"model": model, "prompt": prompt, "n": str(images_sent(model, n))}
    if size:
        fields["size"] = size
    if response_format and not only_b64(model):
        fields["response_format"] = response_format
    image_type = dl.sniff(image[:64]) or "image/png"
    files: dict[str, tuple[str, bytes, str]] = {
        "image": (f"image.{dl.EXTENSIONS.get(image_type, 'png')}", image, image_type)
    }
    if mask:
        files["mask"] = ("mask.png", mask, "image/png")
    try:
        response = await get_client().post(EDITS, data=fields, files=files, timeout=_timeout())
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from None
    return parse_result(read_json(response))


async def edits_available() -> bool | None:
    """Does the gateway serve /v1/images/edits? A multipart request with no image, which a
    gateway that has the route refuses as invalid (4xx, JSON) before any work or charge: a
    501 (new-api builds without it), a 404 or a web page means no; None if the gateway did
    not answer (ask again later)."""
    try:
        response = await get_client().post(
            EDITS, data={"prompt": "probe"}, files={"probe": ("probe.txt", b"", "text/plain")}
        )
    except httpx.HTTPError:
        return None
    content_type = response.headers.get("content-type", "")
    if response.status_code in (404, 405, 501) or "json" not in content_type:
        return False
    if response.status_code >= 500 or response.status_code in (401, 429):
        return None  # the gateway or the key is in trouble: no answer about the route
    return True


def parse_result(data: Any, *, limit: int | None = None) -> ImagesResult:
    """The items of an answer; NoImages if there is none, GatewayError for a bad one."""
    items_data = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items_data, list):
        raise GatewayBadResponse(f"no data list in the images answer: {text(data)[:200]}")
    limit = dl.max_bytes() if limit is None else limit
    items = []
    for raw in items_data:
        if not isinstance(raw, dict):
            continue
        url, b64 = redact(text(raw.get("url")).strip()), text(raw.get("b64_json")).strip()
        revised = redact(text(raw.get("revised_prompt")).strip())
        if b64:
            data_bytes = _decode(b64, limit)
            items.append(ImageItem(data=data_bytes, content_type=dl.sniff(data_bytes[:64]),
                                   revised_prompt=revised))  # fmt: skip
        elif url:
            items.append(ImageItem(url=url, revised_prompt=revised))
    if not items:
        raise NoImages("the images answer has no url or b64_json item")
    created = data.get("created") if isinstance(data, dict) else 0
    return ImagesResult(tuple(items), created if isinstance(created, int) else 0)


def _decode(b64: str, limit: int) -> bytes:
    """A b64_json item's bytes, checked like a download: under the cap, an image by its
    magic numbers (a data: URL prefix is tolerated)."""
    if b64.startswith("data:"):
        b64 = b64.partition(",")[2]
    if len(b64) * 3 // 4 > limit + 3:
        raise dl.DownloadRefused(f"a b64_json image over the {limit}-byte cap")
    try:
        data = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        raise GatewayBadResponse("a b64_json item that is not base64") from None
    return dl.checked_bytes(data, expect=dl.IMAGE_TYPES, limit=limit)


__all__ = ["GatewayError", "ImageItem", "ImagesResult", "edit", "generate"]
