"""The images API on the demo gateway (docs/gateway-api.md, "Images"):
`POST /v1/images/generations` and `POST /v1/images/edits`.

Pictures are real PNGs at the requested size, drawn from the prompt (a diagonal gradient
between two colours of its hash, and a disc), so one prompt always gets the same picture.
Items are `url`s for dall-e-* and the other models (served by the demo itself under
`/demo-media/images/`, no auth, like the other media), `b64_json` for gpt-image-* (and
whenever `response_format` is `b64_json`); dall-e-3 items carry a `revised_prompt`. A call
takes `delay` seconds (`[demo:duration:N]`: N).

Scenarios (`[demo:NAME]` in the prompt, an `X-Demo-Scenario` header, or the gateway's own
`scenario`): the shared error scenarios (`http_500`, `http_403_quota`, ...); `expired` (the
links answer 403); `edits_501` makes /v1/images/edits answer new-api's 501
`api_not_implemented`, as builds without the route do (so does `edits = False`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import itertools
import time
from collections import OrderedDict
from typing import Any

from demo_gateway.replies import MARKER_RE
from demo_gateway.scenarios import ERROR_SCENARIOS, Reply, auth_error, dumps, error_a
from demo_gateway.scenarios import scenario_error as shared_error

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
MEDIA = "/demo-media/images/"
MAX_SIDE = 2048
KEEP = 200  # pictures kept for their links


def handles(path: str) -> bool:
    return path in (GENERATIONS, EDITS) or path.startswith(MEDIA)


def parse_size(size: Any) -> tuple[int, int] | None:
    """(width, height) of "1024x1024"; "auto" or nothing is 1024x1024; None if malformed
    (new-api refuses a size written with the multiplication sign)."""
    text = str(size or "auto").strip().lower()
    if text == "auto":
        return 1024, 1024
    width, sep, height = text.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    w, h = int(width), int(height)
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        return None
    return w, h


def picture(prompt: str, width: int, height: int, base: bytes = b"") -> bytes:
    """A PNG of `width` x `height` drawn from `prompt` (over `base`, an edit's picture)."""
    from PIL import Image, ImageDraw

    digest = hashlib.sha256(prompt.encode()).digest()
    start, end, accent = digest[0:3], digest[3:6], digest[6:9]
    # A diagonal gradient: a small one scaled up is cheap and smooth.
    small = Image.new("RGB", (2, 2))
    small.putdata([tuple(start), _mix(start, end), _mix(start, end), tuple(end)])
    image = small.resize((width, height), Image.Resampling.BILINEAR)
    if base:
        try:
            with Image.open(io.BytesIO(base)) as original:
                image = Image.blend(original.convert("RGB").resize((width, height)), image, 0.4)
        except (OSError, ValueError):
            pass
    radius = min(width, height) // 4
    cx, cy = width // 2, height // 2
    ImageDraw.Draw(image).ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius), fill=tuple(accent)
    )
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=1)
    return out.getvalue()


def _mix(a: bytes, b: bytes) -> tuple[int, int, int]:
    return (a[0] + b[0]) // 2, (a[1] + b[1]) // 2, (a[2] + b[2]) // 2


def revised(prompt: str) -> str:
    return f"A detailed, vivid illustration of {clean(prompt)}, with soft light and rich colour."


def clean(prompt: str) -> str:
    return MARKER_RE.sub("", prompt).strip()


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename, bytes)."""
    boundary = ""
    for piece in content_type.split(";"):
        key, _eq, value = piece.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return {}
    parts: dict[str, tuple[str, bytes]] = {}
    for chunk in body.split(b"--" + boundary.encode()):
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        name = filename = ""
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for item in line.split(";")[1:]:
                    key, _eq, value = item.strip().partition("=")
                    if key == "name":
                        name = value.strip('"')
                    elif key == "filename":
                        filename = value.strip('"')
        if name:
            parts[name] = (filename, data.removesuffix(b"\r\n"))
    return parts


class ImagesEmulator:
    """The two routes and the pictures their links point at. `delay` (seconds per call) and
    `edits` (serve /v1/images/edits at all) may be changed live."""

    def __init__(self, delay: float = 3.0) -> None:
        self.delay = delay
        self.edits = True
        self.pictures: OrderedDict[str, tuple[bytes, bool]] = OrderedDict()
        self._ids = itertools.count(1)

    async def answer(
        self,
        request: Any,
        request_id: str,
        *,
        authorized: bool,
        base: str,
        scenario: str | None,
        models: list[str],
    ) -> Reply:
        path = request.path
        if path.startswith(MEDIA):
            return self._file(path.removeprefix(MEDIA))
        if request.method != "POST":
            message = f"Invalid URL ({request.method} {path})"
            return error_a(404, message, request_id, err_type="invalid_request_error", code="")
        if not authorized:
            return auth_error(request.headers.get("authorization"), request_id)
        if path == EDITS:
            fields = parse_multipart(request.headers.get("content-type", ""), request.body)
            body = {k: v.decode("utf-8", "replace") for k, (f, v) in fields.items() if not f}
        else:
            fields, body = {}, request.json if isinstance(request.json, dict) else {}
        prompt = str(body.get("prompt") or "")
        marker = MARKER_RE.search(prompt)
        chosen = request.headers.get("x-demo-scenario") or (marker.group(1) if marker else "")
        chosen = chosen or scenario or ""
        model = str(body.get("model") or "dall-e-2")  # new-api's default
        if path == EDITS and (chosen == "edits_501" or not self.edits):
            return error_a(501, "API not implemented", request_id, code="api_not_implemented")
        if chosen in ERROR_SCENARIOS:
            return shared_error(chosen, model, request_id)
        if model not in models:
            message = f"当前分组 default 下对于模型 {model} 无可用渠道"
            return error_a(503, message, request_id)
        if not prompt.strip():
            return error_a(400, "prompt is required", request_id, code="invalid_image_request")
        size = parse_size(body.get("size"))
        if size is None:
            message = f"size not supported: {body.get('size')}"
            return error_a(400, message, request_id, code="invalid_image_request")
        base_image = b""
        if path == EDITS:
            base_image = fields.get("image", ("", b""))[1]
            if not base_image:
                message = "image is required"
                return error_a(400, message, request_id, code="invalid_image_request")
        wait = self.delay
        if chosen.startswith("duration:"):
            wait = float(chosen.partition(":")[2])
        if wait > 0:
            await asyncio.sleep(wait)
        return self._generated(body, model, prompt, size, base_image, base, chosen)

    def _generated(
        self,
        body: dict[str, Any],
        model: str,
        prompt: str,
        size: tuple[int, int],
        base_image: bytes,
        base: str,
        scenario: str,
    ) -> Reply:
        try:
            n = max(1, min(10, int(body.get("n") or 1)))
        except (TypeError, ValueError):
            n = 1
        inline = model.startswith("gpt-image") or body.get("response_format") == "b64_json"
        items = []
        for index in range(n):
            data = picture(f"{clean(prompt)}#{index}", *size, base=base_image)
            item: dict[str, Any] = {}
            if inline:
                item["b64_json"] = base64.b64encode(data).decode("ascii")
            else:
                item["url"] = f"{base}{MEDIA}{self._keep(data, scenario == 'expired')}.png"
            if model.startswith("dall-e-3"):
                item["revised_prompt"] = revised(prompt)
            items.append(item)
        answer: dict[str, Any] = {"created": int(time.time()), "data": items}
        if model.startswith("gpt-image"):
            answer["usage"] = {"input_tokens": 10, "output_tokens": 1056, "total_tokens": 1066}
        return Reply(200, dumps(answer).encode())

    def _keep(self, data: bytes, expired: bool) -> str:
        name = f"img-{next(self._ids):06d}"
        self.pictures[name] = (data, expired)
        while len(self.pictures) > KEEP:
            self.pictures.popitem(last=False)
        return name

    def _file(self, leaf: str) -> Reply:
        kept = self.pictures.get(leaf.removesuffix(".png"))
        if kept is None:
            return Reply(404, b"not found", "text/plain; charset=utf-8")
        data, expired = kept
        if expired:
            return Reply(403, b"AccessDenied: Request has expired", "text/plain; charset=utf-8")
        return Reply(200, data, "image/png")
