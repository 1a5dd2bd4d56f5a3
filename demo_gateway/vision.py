"""Image parts in chat requests (docs/gateway-api.md, "Chat"), as real gateways treat them.

A model that can see (VISION_MODELS) answers a message with images by describing what it was
sent: each picture's size and main colour, read from its data URI with Pillow, so a member
sees the picture arrived whole. The refusals real upstreams make come back as 400s in new-api's
error shape: image parts for a model without vision, image parts in an assistant message, and
an image whose base64 form is over 5 MB (Claude's limit).
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any, Final

from demo_gateway import replies, scenarios
from demo_gateway.scenarios import ChunkMaker, Reply, Step, StreamRequest

# The demo models that can see, as their real namesakes do.
VISION_MODELS: Final = frozenset({"gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet-20241022"})
MAX_BASE64_BYTES: Final = 5 * 1024 * 1024

_COLOURS: Final = (
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("grey", (128, 128, 128)),
    ("red", (220, 30, 30)),
    ("orange", (245, 140, 20)),
    ("yellow", (240, 220, 40)),
    ("green", (40, 170, 60)),
    ("cyan", (40, 200, 210)),
    ("blue", (40, 80, 220)),
    ("purple", (140, 60, 190)),
    ("pink", (240, 120, 180)),
    ("brown", (130, 80, 40)),
)


def _parts(message: Any) -> list[dict[str, Any]]:
    content = message.get("content") if isinstance(message, dict) else None
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


def _image_urls(message: Any) -> list[str]:
    urls = []
    for part in _parts(message):
        if part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        urls.append(url if isinstance(url, str) else "")
    return urls


def refusal(body: Any, model: str, request_id: str) -> Reply | None:
    """The 400 a real upstream gives this request for its images, or None."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    images = 0
    for message in messages:
        urls = _image_urls(message)
        if urls and message.get("role") != "user":
            return scenarios.error_a(
                400,
                "Invalid 'messages': Image URLs are only allowed for messages with role 'user'.",
                request_id,
                err_type="invalid_request_error",
                code="invalid_value",
            )
        for url in urls:
            if url.startswith("data:") and len(url.partition(",")[2]) > MAX_BASE64_BYTES:
                return scenarios.error_a(
                    400,
                    f"image exceeds 5 MB maximum: {len(url.partition(',')[2])} bytes > "
                    f"{MAX_BASE64_BYTES} bytes",
                    request_id,
                    err_type="invalid_request_error",
                    code="invalid_request_error",
                )
        images += len(urls)
    if images and model not in VISION_MODELS:
        return scenarios.error_a(
            400,
            f"Invalid content type. image_url is only supported by certain models ({model}).",
            request_id,
            err_type="invalid_request_error",
            code="invalid_value",
        )
    return None


def description(body: Any) -> str | None:
    """What a model that can see says about the images of the last user message (None when
    it has none)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    last = next(
        (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None
    )
    urls = _image_urls(last)
    if not urls:
        return None
    count = len(urls)
    lines = [f"I can see {count} image{'s' if count != 1 else ''}.", ""]
    for number, url in enumerate(urls, start=1):
        lines.append(f"- Image {number}: {describe_url(url)}")
    text = scenarios.content_text(last.get("content") if last else None).strip()
    if text:
        lines += ["", f"You asked: “{text[:200]}”. This is the demo gateway: it only looks at "
                  "sizes and colours."]  # fmt: skip
    return "\n".join(lines)


def describe_url(url: str) -> str:
    if not url.startswith("data:"):
        return f"a link ({url[:80]}), which the demo gateway does not fetch."
    header, _, data = url.partition(",")
    try:
        raw = base64.b64decode(data, validate=True) if ";base64" in header else b""
        return describe_image(raw)
    except (binascii.Error, ValueError, OSError):
        return "a data URI that is not a picture I can read."


def describe_image(raw: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as image:
        width, height = image.size
        kind = image.format or "image"
        rgb = image.convert("RGB")
        rgb.thumbnail((64, 64))
        colours: list[tuple[int, Any]] = list(rgb.getcolors(64 * 64) or [])
    top = max(colours, key=lambda c: c[0])[1] if colours else (0, 0, 0)
    r, g, b = (int(v) for v in top)
    name = colour_name((r, g, b))
    return f"a {kind} of {width}x{height} pixels, mostly {name} (#{r:02x}{g:02x}{b:02x})."


def colour_name(rgb: tuple[int, int, int]) -> str:
    return min(_COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in zip(c[1], rgb, strict=True)))[0]


def stream_plan(req: StreamRequest, text: str) -> list[Step]:
    """The normal scenario's stream, saying `text`."""
    body = req.body if isinstance(req.body, dict) else {}
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    maker = ChunkMaker(
        chat_id=req.chat_id, created=req.created, model=req.model, usage_null=include_usage
    )

    def event(payload: str) -> bytes:
        return f"data: {payload}\n\n".encode()

    tokens = replies.tokenize(text)
    delay = req.token_delay * scenarios.MODEL_PACE.get(req.model, 1)
    steps: list[Step] = [event(maker.delta('{"role":"assistant","content":""}'))]
    for token in tokens:
        if delay:
            steps.append(delay)
        steps.append(event(maker.content(token)))
    steps.append(event(maker.delta("{}", "stop")))
    if include_usage:
        usage = scenarios.usage(scenarios.estimate_prompt_tokens(body), len(tokens))
        steps.append(event(maker.usage(usage)))
    steps.append(event("[DONE]"))
    return steps


def completion_body(text: str, *, chat_id: str, created: int, model: str, body: Any) -> bytes:
    tokens = replies.tokenize(text)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    message["annotations"] = []
    return scenarios.dumps(
        {
            "id": chat_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": scenarios.usage(scenarios.estimate_prompt_tokens(body), len(tokens)),
            "system_fingerprint": scenarios.FINGERPRINT,
        }
    ).encode()
