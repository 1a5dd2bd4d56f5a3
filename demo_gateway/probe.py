"""What Parlor's gateway check (gateway.probe) needs of the demo gateway.

- A gateway without some families: `DemoGateway(without=["images", "luma"])` (the
  DEMO_GATEWAY_WITHOUT setting) answers their routes as new-api answers a path it does not
  route (404 "Invalid URL" under /v1 and /api, its console page with a 200 elsewhere) and
  leaves their models out of /v1/models.
- The cheap refusals the check relies on, for OpenAI routes the demo does not emulate: a
  request without its required input (an image without a prompt, an embedding without input)
  gets new-api's 400, after the usual key check and "no channel for this model" 503.

Pure functions; the server routes to them (demo_gateway/server.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from demo_gateway.scenarios import Reply, auth_error, console_page, error_a, invalid_url

# The names gateway.probe uses.
FAMILIES = (
    "chat",
    "images",
    "image_edits",
    "audio_transcription",
    "audio_translation",
    "audio_speech",
    "embeddings",
    "completions",
    "midjourney",
    "suno",
    "luma",
    "prices",
)
# (method, path pattern) of each family's routes.
ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "chat": (("POST", r"/v1/chat/completions"),),
    "images": (("POST", r"/v1/images/generations"),),
    "image_edits": (("POST", r"/v1/images/edits"),),
    "audio_transcription": (("POST", r"/v1/audio/transcriptions"),),
    "audio_translation": (("POST", r"/v1/audio/translations"),),
    "audio_speech": (("POST", r"/v1/audio/speech"),),
    "embeddings": (("POST", r"/v1/embeddings"),),
    "completions": (("POST", r"/v1/completions"),),
    "midjourney": (("*", r"/mj(-[a-z]+)?/.*"),),
    "suno": (("*", r"/suno/.*"),),
    "luma": (("*", r"/luma/.*"),),
    "prices": (("GET", r"/api/pricing"),),
}
# Which family a listed model belongs to (anything else is a chat model).
MODEL_FAMILIES = (
    ("midjourney", ("mj_*", "swap_face*")),
    ("suno", ("suno*", "chirp*")),
    ("luma", ("luma*",)),
    ("images", ("dall-e*", "gpt-image*", "flux*", "stable-diffusion*")),
    ("audio_speech", ("tts*", "*-tts*")),
    ("audio_transcription", ("whisper*", "*transcribe*")),
    ("embeddings", ("*embedding*",)),
    ("completions", ("*-instruct", "davinci*", "babbage*")),
)
# What each probe-shaped request lacks: (family, the field whose absence new-api refuses).
_REQUIRED = {
    "images": ("prompt", "prompt is required"),
    "image_edits": ("image", "image is required"),
    "audio_transcription": ("file", "file is required"),
    "audio_translation": ("file", "file is required"),
    "audio_speech": ("input", "input is required"),
    "embeddings": ("input", "input is empty"),
    "completions": ("prompt", "field prompt is required"),
}
# One multipart part: its name, whether it is a file, its value.
_FORM_FIELD = re.compile(
    rb'name="([^"]+)"(; filename="[^"]*")?\r\n(?:[^\r\n]+\r\n)*\r\n(.*?)\r\n--', re.S
)


def check_families(names: Iterable[str]) -> frozenset[str]:
    """`names` as a set of families; a name that is not one raises ValueError."""
    families = frozenset(name.strip().lower() for name in names if name.strip())
    if unknown := sorted(families - set(FAMILIES)):
        raise ValueError(
            f"not a gateway family: {', '.join(unknown)} (known: {', '.join(FAMILIES)})"
        )
    return families


def family_of_route(method: str, path: str) -> str | None:
    for family, routes in ROUTES.items():
        for route_method, pattern in routes:
            if route_method in ("*", method) and re.fullmatch(pattern, path):
                return family
    return None


def family_of_model(model: str) -> str:
    lowered = model.lower()
    for family, patterns in MODEL_FAMILIES:
        if any(fnmatchcase(lowered, pattern) for pattern in patterns):
            return family
    return "chat"


def listed(models: list[str], without: frozenset[str]) -> list[str]:
    """The models /v1/models lists on a gateway without the families `without`."""
    return [m for m in models if family_of_model(m) not in without]


def withheld(method: str, path: str, without: frozenset[str]) -> Reply | None:
    """new-api's answer to a route of a family it does not serve; None for the others."""
    if not without or family_of_route(method, path) not in without:
        return None
    if path.startswith(("/v1/", "/api/")):
        return invalid_url(method, path)
    return console_page()


def refusal(request: Any, *, models: list[str], authorized: bool, request_id: str) -> Reply | None:
    """new-api's answer to a request of a family the demo does not emulate that lacks its
    required input (what gateway.probe sends); None for anything else."""
    family = family_of_route(request.method, request.path)
    if family not in _REQUIRED:
        return None
    if not authorized:
        return auth_error(request.headers.get("authorization"), request_id)
    fields = _fields(request)
    model = str(fields.get("model") or "")
    if model not in models:
        message = f"当前分组 default 下对于模型 {model} 无可用渠道"
        return error_a(503, message, request_id)
    name, message = _REQUIRED[family]
    if fields.get(name):
        return None
    return error_a(400, message, request_id, err_type="invalid_request_error", code="")


def _fields(request: Any) -> dict[str, Any]:
    if isinstance(request.json, dict):
        return request.json
    if b"multipart/form-data" not in request.headers.get("content-type", "").encode():
        return {}
    return {
        name.decode("latin-1"): "(file)" if is_file else value.decode("utf-8", "replace")
        for name, is_file, value in _FORM_FIELD.findall(request.body)
    }
