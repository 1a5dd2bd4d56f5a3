"""The gateway's model catalogue: GET /v1/models, the subset worth offering for chat and the
instruct models of the legacy completions route.

Pages read only the cache (`list_chat_models`, `list_instruct_models`); the listing itself
runs in a background thread (stale-while-revalidate), so a slow or dead gateway never delays
a page."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from fnmatch import fnmatchcase
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from gateway.client import get_sync_client, origin, read_json
from gateway.errors import GatewayError, error_from_exception
from gateway.redact import redact

logger = logging.getLogger(__name__)

PATH = "/v1/models"
# The listing runs off the request thread; a short leash still keeps a hung gateway from
# holding a refresh thread for long.
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# Ids the gateway lists for billing or for other endpoints; never offered as chat models.
# Matched case-insensitively against the whole id.
CHAT_EXCLUDE = (
    "mj_*",
    "mj-*",
    "midjourney*",
    "swap_face*",
    "suno*",
    "chirp*",
    "luma*",
    "kling*",
    "runway*",
    "dall-e*",
    "gpt-image*",
    "stable-diffusion*",
    "sd3*",
    "flux*",
    "imagen*",
    "ideogram*",
    "recraft*",
    "tts*",
    "*-tts*",
    "whisper*",
    "*transcribe*",
    "*embedding*",
    "*moderation*",
    "*rerank*",
    "*realtime*",
    "babbage*",
    "davinci*",
    "gpt-3.5-turbo-instruct*",
    "*embed*",
    "bge-*",
    "m3e*",
    "cogview*",
    "kolors*",
    "wanx*",
    "seedream*",
    "seedance*",
    "sora*",
    "veo*",
    "hailuo*",
    "pika*",
    "vidu*",
    "sdxl*",
)
# The family of a listed id that is not a chat model (first match wins; the rest is "other":
# moderation, rerank, realtime, video services Parlor does not speak). Family names are
# gateway.probe's.
MODEL_FAMILIES = (
    ("midjourney", ("mj_*", "mj-*", "midjourney*", "swap_face*")),
    ("suno", ("suno*", "chirp*")),
    ("luma", ("luma*",)),
    (
        "images",
        (
            "dall-e*",
            "gpt-image*",
            "stable-diffusion*",
            "sd3*",
            "sdxl*",
            "flux*",
            "imagen*",
            "ideogram*",
            "recraft*",
            "cogview*",
            "kolors*",
            "wanx*",
            "seedream*",
        ),
    ),
    ("audio_speech", ("tts*", "*-tts*")),
    ("audio_transcription", ("whisper*", "*transcribe*")),
    ("embeddings", ("*embed*", "bge-*", "m3e*")),
    ("completions", ("babbage*", "davinci*", "gpt-3.5-turbo-instruct*")),
)
# Chat models despite the patterns above: Suno's chat models (Suno-API's `suno-v3`,
# `suno-v3.5`; `chirp-v3-5` and the like on other resellers) answer on the chat route.
CHAT_INCLUDE = ("suno-v*", "chirp-v*")


# Models served on the legacy completions route (POST /v1/completions): OpenAI's instruct and
# base models, and any id ending in "-instruct". The OpenAI ones are also in CHAT_EXCLUDE (they
# have no chat route); an open model such as "llama-3-8b-instruct" is offered for both.
INSTRUCT_MODELS = (
    "gpt-3.5-turbo-instruct*",
    "*-instruct",
    "davinci-002",
    "babbage-002",
    "text-davinci-*",
)


def list_models() -> list[str]:
    """GET /v1/models now, blocking up to TIMEOUT: for the background refresh, not for views."""
    try:
        with get_sync_client() as client:
            response = client.get(PATH, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from exc
    return _model_ids(read_json(response))


# A gateway that is down is asked again after this long, not on every page.
FAILURE_CACHE_SECONDS = 30
# How long a listing may be shown while a newer one is fetched (stale-while-revalidate).
STALE_CACHE_SECONDS = 24 * 3600

_lock = threading.Lock()
_refreshing: dict[str, threading.Thread] = {}


def list_chat_models() -> list[str]:
    """The cached chat model ids, never waiting for the gateway: sync views share one thread
    under daphne, and a slow gateway must not stall every page behind it.

    When nothing is cached yet, or the listing is older than GATEWAY_MODELS_CACHE_SECONDS, a
    daemon thread fetches a new one while this returns what is cached ([] at first). A failed
    listing keeps the previous models and is retried after FAILURE_CACHE_SECONDS."""
    key = _cache_key()
    entry = cache.get(key)
    if not _is_fresh(entry):
        _start_refresh(key)
    return list(entry["models"]) if _is_entry(entry) else []


def list_instruct_models(*, refresh: bool = True) -> list[str]:
    """The cached instruct model ids (see INSTRUCT_MODELS), read as list_chat_models reads the
    chat ones, from the same listing. `refresh=False` only reads the cache (for code that runs
    where a page has just refreshed the listing: the chat socket)."""
    key = _cache_key()
    entry = cache.get(key)
    if refresh and not _is_fresh(entry):
        _start_refresh(key)
    return list(entry.get("instruct") or []) if _is_entry(entry) else []


def refresh_chat_models() -> list[str]:
    """Fetch the listing now (blocking) and cache it; [] on failure."""
    return _refresh(_cache_key())


def _refresh(key: str) -> list[str]:
    try:
        listed = list_models()
    except GatewayError as exc:
        logger.warning("Could not list gateway models: %s", exc)
        previous = cache.get(key)
        kept = list(previous["models"]) if _is_entry(previous) else []
        instruct = list(previous.get("instruct") or []) if _is_entry(previous) else []
        _store(key, kept, FAILURE_CACHE_SECONDS, instruct=instruct)
        return []
    models = [m for m in listed if is_chat_model(m)]
    instruct = [m for m in listed if is_instruct_model(m)]
    _store(key, models, settings.GATEWAY_MODELS_CACHE_SECONDS, instruct=instruct)
    _store_image_models(key, listed)
    return models


def wait_for_refresh(timeout: float | None = None) -> None:
    """Wait for background refreshes in flight (tests, shutdown)."""
    with _lock:
        threads = list(_refreshing.values())
    for thread in threads:
        thread.join(timeout)


def _start_refresh(key: str) -> None:
    with _lock:
        if key in _refreshing:
            return
        try:
            origin()  # an unusable address fails here, at once, with no thread
        except GatewayError as exc:
            logger.warning("Could not list gateway models: %s", exc)
            _store(key, [], FAILURE_CACHE_SECONDS)
            return
        thread = threading.Thread(
            target=_refresh_in_background, args=(key,), name="gateway-models", daemon=True
        )
        _refreshing[key] = thread
    thread.start()


def _refresh_in_background(key: str) -> None:
    try:
        _refresh(key)
    except Exception:
        logger.exception("Refreshing the gateway's model list failed")
    finally:
        with _lock:
            _refreshing.pop(key, None)


def _store(
    key: str, models: list[str], fresh_for: float, *, instruct: list[str] | None = None
) -> None:
    entry = {"models": models, "instruct": instruct or [], "fresh_until": time.time() + fresh_for}
    cache.set(key, entry, max(STALE_CACHE_SECONDS, fresh_for))


def _is_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("models"), list)


def _is_fresh(entry: Any) -> bool:
    return _is_entry(entry) and entry.get("fresh_until", 0) > time.time()


def is_chat_model(model_id: str) -> bool:
    lowered = model_id.lower()
    if any(fnmatchcase(lowered, pattern) for pattern in CHAT_INCLUDE):
        return True
    return not any(fnmatchcase(lowered, pattern) for pattern in CHAT_EXCLUDE)


def family_of(model_id: str) -> str:
    """chat, one of MODEL_FAMILIES' names, or "other"."""
    if is_chat_model(model_id):
        return "chat"
    lowered = model_id.lower()
    for family, patterns in MODEL_FAMILIES:
        if any(fnmatchcase(lowered, pattern) for pattern in patterns):
            return family
    return "other"


# The model picker's groups: who makes a chat model, from its id (a "vendor/" prefix aside).
# (key, patterns); the labels are the templates' (chat_models tag library).
PICKER_GROUPS = (
    ("gpt", ("gpt-*", "gpt4*", "chatgpt*")),
    ("o_series", ("o[0-9]", "o[0-9]-*", "o[0-9][0-9]-*")),
    ("claude", ("claude*",)),
    ("gemini", ("gemini*",)),
    ("deepseek", ("deepseek*",)),
    ("qwen", ("qwen*", "qwq*", "qvq*")),
    ("llama", ("llama*", "meta-llama*")),
)
OTHER_GROUP = "other"


def picker_group(model_id: str) -> str:
    """The key of the picker group of a chat model: PICKER_GROUPS' or OTHER_GROUP."""
    name = model_id.lower().rpartition("/")[2]
    for key, patterns in PICKER_GROUPS:
        if any(fnmatchcase(name, pattern) for pattern in patterns):
            return key
    return OTHER_GROUP


def group_for_picker(models: list[str]) -> list[tuple[str, list[str]]]:
    """`models` in picker groups (PICKER_GROUPS' order, then OTHER_GROUP), each keeping the
    order it was given; empty groups left out."""
    groups: dict[str, list[str]] = {key: [] for key, _ in PICKER_GROUPS}
    groups[OTHER_GROUP] = []
    for model in models:
        groups[picker_group(model)].append(model)
    return [(key, members) for key, members in groups.items() if members]


def model_ids(data: Any) -> list[str]:
    """The ids of a /v1/models answer (see _model_ids)."""
    return _model_ids(data)


def is_instruct_model(model_id: str) -> bool:
    """Whether the model is served on the legacy completions route (INSTRUCT_MODELS)."""
    lowered = model_id.lower()
    return any(fnmatchcase(lowered, pattern) for pattern in INSTRUCT_MODELS)


def _model_ids(data: Any) -> list[str]:
    """data[].id from new-api ({"success": true, "object": "list", "data": [...]}), older
    one-api shapes, or a bare list; anything unexpected is skipped."""
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    ids = {item.get("id") if isinstance(item, dict) else item for item in items}
    # A "model" named with Parlor's key is no model: left out, not listed redacted.
    return sorted(i for i in ids if isinstance(i, str) and i.strip() and redact(i) == i)


def _cache_key() -> str:
    # A different gateway or key may allow different models.
    # The raw setting, not origin(): a malformed URL must fail the listing, not the key.
    scope = f"{settings.GATEWAY_BASE_URL}\0{settings.GATEWAY_API_KEY}".encode()
    return "gateway:chat-models:v2:" + hashlib.sha256(scope).hexdigest()[:24]


# --- image models (the images API: /v1/images/generations) ---------------------------

# Ids the images API serves, matched case-insensitively against the whole id; Midjourney and
# other task families have routes of their own and are not listed here.
IMAGE_INCLUDE = ("dall-e*", "gpt-image*", "stable-diffusion*", "sd*", "flux*")


def is_image_model(model_id: str) -> bool:
    lowered = model_id.lower()
    return any(fnmatchcase(lowered, pattern) for pattern in IMAGE_INCLUDE)


def list_image_models() -> list[str]:
    """The cached image model ids of the last listing (the same background refresh as
    `list_chat_models`, never waiting for the gateway); [] until one has been made."""
    key = _cache_key()
    if not _is_fresh(cache.get(key)):
        _start_refresh(key)
    models = cache.get(key + ":images")
    return list(models) if isinstance(models, list) else []


def _store_image_models(key: str, listed: list[str]) -> None:
    cache.set(key + ":images", [m for m in listed if is_image_model(m)], STALE_CACHE_SECONDS)
