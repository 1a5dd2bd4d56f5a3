"""What the gateway serves: one cheap request per family, all at once, each classified
found / absent / unknown with its evidence (docs/gateway-api.md, Common: the HTML-200 console
page; Models; and each family's section).

A probe never makes anything: a listing (`GET /v1/models`, `GET /api/pricing`), a request the
gateway refuses before any work because its input is missing (an image without a prompt, an
embedding without input: 400), a Midjourney query for no ids, a Suno or Luma fetch of a task
that does not exist. What the answer means:

- found: the route answered in its own words (JSON, even a 400 or a "no such task");
- absent: 404 / 405 / 501, a redirect, or a web page (new-api answers paths it does not route
  outside /v1 with its console's HTML and a 200);
- unknown: no answer (network error, timeout), or one that says nothing about the route
  (401 rejected key, 403, 429, 5xx).

Pure HTTP: remembering the answer is the caller's (config.gateway_check).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

from gateway.catalogue import family_of, is_chat_model, model_ids
from gateway.client import get_client
from gateway.errors import GatewayError, redact
from gateway.pricing import parse_prices

FOUND, ABSENT, UNKNOWN = "found", "absent", "unknown"
# The families, in the order the admin page lists them; templates test `gateway_serves.NAME`.
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
# Each probe gets this long: the check runs at start and from an admin button.
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
EXCERPT_CHARS = 200
# The optional Midjourney routes (proxies only; stock new-api answers its console page).
MIDJOURNEY_FEATURES = {
    "task_list": ("GET", "/mj/task/list"),
    "queue": ("GET", "/mj/task/queue"),
    "cancel": ("POST", "/mj/task/0/cancel"),
}
# The model a probe names when /v1/models lists none of its family (new-api picks the channel
# by model before it validates, so an unknown model answers 503 "no channel": unknown).
DEFAULT_MODELS = {
    "images": "dall-e-3",
    "image_edits": "dall-e-2",
    "audio_transcription": "whisper-1",
    "audio_translation": "whisper-1",
    "audio_speech": "tts-1",
    "embeddings": "text-embedding-3-small",
}
# Families whose models /v1/models lists under another family's name (gateway.catalogue).
LISTED_AS = {"image_edits": "images", "audio_translation": "audio_transcription"}
_MULTIPART_BOUNDARY = "parlor-probe"


@dataclass(frozen=True, slots=True)
class Finding:
    """One family's answer: `state` found / absent / unknown, the request made, the HTTP
    status (None without an answer), a short redacted excerpt, and family details
    (`models`: the listed ids of the family; Midjourney's `features`)."""

    family: str
    state: str
    request: str
    status: int | None = None
    excerpt: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def served(self) -> bool:
        """Unknown counts as served: a failed probe hides nothing."""
        return self.state != ABSENT


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None
    content_type: str = ""
    body: bytes = b""
    error: str = ""  # a network error instead of an answer

    @property
    def is_json(self) -> bool:
        return "json" in self.content_type.lower()

    @property
    def is_page(self) -> bool:
        head = self.body.lstrip()[:1]
        return "html" in self.content_type.lower() or head == b"<"

    def json(self) -> Any:
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            return None

    def excerpt(self) -> str:
        if self.status is None:
            return redact(self.error)[:EXCERPT_CHARS]
        text = self.body.decode("utf-8", "replace").strip()
        text = " ".join(text.split())  # one line: pages and pretty JSON alike
        text = redact(text)
        return text[: EXCERPT_CHARS - 1] + "…" if len(text) > EXCERPT_CHARS else text


def classify(answer: Answer, *, json_404_found: bool = False) -> str:
    """found / absent / unknown for one answer (see the module's docstring).

    `json_404_found`: a task fetch's 404 in JSON is the service saying "no such task" (Luma,
    GoAmz Suno); new-api's own "Invalid URL" 404 still means absent."""
    status = answer.status
    if status is None:
        return UNKNOWN
    if answer.is_page or 300 <= status < 400:
        return ABSENT
    if status in (404, 405):
        if json_404_found and answer.is_json and b"Invalid URL" not in answer.body:
            return FOUND
        return ABSENT
    if status == 501:
        return ABSENT
    if status in (401, 403, 429) or status >= 500:
        return UNKNOWN
    if answer.is_json or (200 <= status < 300 and answer.content_type.startswith("audio/")):
        return FOUND
    return UNKNOWN  # a 2xx or 4xx in a shape no family uses


async def ask(
    method: str,
    path: str,
    *,
    json: Any = None,
    fields: dict[str, str] | None = None,
) -> Answer:
    """One request with the probe's short timeout; `fields` go as multipart/form-data."""
    kwargs: dict[str, Any] = {"timeout": TIMEOUT}
    if fields is not None:
        kwargs["content"] = _multipart(fields)
        kwargs["headers"] = {"Content-Type": f"multipart/form-data; boundary={_MULTIPART_BOUNDARY}"}
    elif json is not None:
        kwargs["json"] = json
    try:
        response = await get_client().request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    except GatewayError as exc:  # no usable GATEWAY_BASE_URL: nothing was asked
        return Answer(None, error=str(exc))
    return Answer(response.status_code, response.headers.get("content-type", ""), response.content)


def _multipart(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{_MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        f"{value}\r\n"
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{_MULTIPART_BOUNDARY}--\r\n").encode()


async def route_available(method: str, path: str) -> bool:
    """Does the gateway serve this optional route? Unknown counts as no (hidden until known)."""
    body: dict[str, Any] | None = {} if method == "POST" else None
    return classify(await ask(method, path, json=body)) == FOUND


# --- the probes ---------------------------------------------------------------------------


Probe = Callable[[dict[str, list[str]]], Awaitable[Finding]]


def _finding(family: str, request: str, answer: Answer, state: str, **details: Any) -> Finding:
    return Finding(family, state, request, answer.status, answer.excerpt(), details)


def _model(family: str, models: dict[str, list[str]]) -> str:
    listed = models.get(LISTED_AS.get(family, family)) or []
    return listed[0] if listed else DEFAULT_MODELS.get(family, settings.DEFAULT_MODEL)


def _json_probe(family: str, path: str, body: Callable[[str], dict[str, Any]]) -> Probe:
    async def probe(models: dict[str, list[str]]) -> Finding:
        answer = await ask("POST", path, json=body(_model(family, models)))
        return _finding(family, f"POST {path}", answer, classify(answer))

    return probe


def _form_probe(family: str, path: str, body: Callable[[str], dict[str, str]]) -> Probe:
    async def probe(models: dict[str, list[str]]) -> Finding:
        answer = await ask("POST", path, fields=body(_model(family, models)))
        return _finding(family, f"POST {path}", answer, classify(answer))

    return probe


async def _midjourney(models: dict[str, list[str]]) -> Finding:
    path = "/mj/task/list-by-condition"
    answer = await ask("POST", path, json={"ids": []})
    state = classify(answer)
    if state == ABSENT:
        features = dict.fromkeys(MIDJOURNEY_FEATURES, False)
    else:
        features = await midjourney_features()
    return _finding("midjourney", f"POST {path}", answer, state, features=features)


async def midjourney_features() -> dict[str, bool]:
    """The optional Midjourney routes the gateway has: task_list, queue, cancel."""
    names = list(MIDJOURNEY_FEATURES)
    found = await asyncio.gather(*(route_available(*MIDJOURNEY_FEATURES[n]) for n in names))
    return dict(zip(names, found, strict=True))


async def _suno(models: dict[str, list[str]]) -> Finding:
    missing = uuid.UUID(int=0)
    if getattr(settings, "SUNO_API_FORMAT", "newapi") == "goamz":
        path = f"/suno/v1/music/{missing}"
    else:
        path = f"/suno/fetch/{missing}"
    answer = await ask("GET", path)
    return _finding("suno", f"GET {path}", answer, classify(answer, json_404_found=True))


async def _luma(models: dict[str, list[str]]) -> Finding:
    path = f"/luma/generations/{uuid.UUID(int=0)}"
    answer = await ask("GET", path)
    return _finding("luma", f"GET {path}", answer, classify(answer, json_404_found=True))


async def _prices(models: dict[str, list[str]]) -> Finding:
    path = "/api/pricing"
    answer = await ask("GET", path)
    state = classify(answer)
    if state == FOUND:  # any JSON is not a price list: a 4xx, or a login page's JSON
        ok = answer.status is not None and 200 <= answer.status < 300
        state = FOUND if ok and parse_prices(answer.json()) is not None else ABSENT
    elif answer.status in (401, 403):  # a console login: not published to a key
        state = ABSENT
    return _finding("prices", f"GET {path}", answer, state)


PROBES: dict[str, Probe] = {
    "images": _json_probe(
        "images", "/v1/images/generations", lambda model: {"model": model, "prompt": ""}
    ),
    "image_edits": _form_probe(
        "image_edits", "/v1/images/edits", lambda model: {"model": model, "prompt": ""}
    ),
    "audio_transcription": _form_probe(
        "audio_transcription", "/v1/audio/transcriptions", lambda model: {"model": model}
    ),
    "audio_translation": _form_probe(
        "audio_translation", "/v1/audio/translations", lambda model: {"model": model}
    ),
    "audio_speech": _json_probe(
        "audio_speech",
        "/v1/audio/speech",
        lambda model: {"model": model, "input": "", "voice": "alloy"},
    ),
    "embeddings": _json_probe(
        "embeddings", "/v1/embeddings", lambda model: {"model": model, "input": ""}
    ),
    # No prompt at all: new-api answers 400 "field prompt is required" before any work.
    "completions": _json_probe(
        "completions", "/v1/completions", lambda model: {"model": model, "max_tokens": 1}
    ),
    "midjourney": _midjourney,
    "suno": _suno,
    "luma": _luma,
    "prices": _prices,
}


async def _models() -> tuple[Finding, dict[str, list[str]]]:
    """GET /v1/models: the chat family's finding, and every listed id by family."""
    path = "/v1/models"
    answer = await ask("GET", path)
    state = classify(answer)
    by_family: dict[str, list[str]] = {}
    if state == FOUND and answer.status is not None and answer.status < 300:
        for model in model_ids(answer.json()):
            by_family.setdefault(family_of(model), []).append(model)
        chat = [m for m in by_family.get("chat", []) if is_chat_model(m)]
        state = FOUND if chat else ABSENT
    elif state == FOUND:
        state = UNKNOWN  # a 4xx in JSON: no listing to judge by
    finding = _finding("chat", f"GET {path}", answer, state, models=by_family.get("chat", []))
    return finding, by_family


async def check() -> list[Finding]:
    """Probe every family now, concurrently (each within TIMEOUT); one Finding per family, in
    FAMILIES order. The model listing comes first: the other probes name a listed model."""
    chat, models = await _models()
    found = await asyncio.gather(*(probe(models) for probe in PROBES.values()))
    findings = {f.family: f for f in (chat, *found)}
    for family, finding in findings.items():
        listed = models.get(LISTED_AS.get(family, family))
        if family != "chat" and listed:
            details = {**finding.details, "models": listed}
            findings[family] = Finding(
                finding.family,
                finding.state,
                finding.request,
                finding.status,
                finding.excerpt,
                details,
            )
    return [findings[family] for family in FAMILIES]
