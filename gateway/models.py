"""The gateway's model list (GET /v1/models) and the subset worth offering for chat."""

from __future__ import annotations

import hashlib
import logging
from fnmatch import fnmatchcase
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from gateway.client import get_client, get_sync_client, read_json
from gateway.errors import GatewayError, error_from_exception

logger = logging.getLogger(__name__)

PATH = "/v1/models"
# Sync views share one thread under daphne: a hanging listing would stall every page and
# every database call behind it, so the small model list gets a short leash.
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
)


async def alist_models() -> list[str]:
    try:
        response = await get_client().get(PATH, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from exc
    return _model_ids(read_json(response))


def list_models() -> list[str]:
    try:
        with get_sync_client() as client:
            response = client.get(PATH, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from exc
    return _model_ids(read_json(response))


# A gateway that is down would otherwise make every page wait out the connect timeout.
FAILURE_CACHE_SECONDS = 30


def list_chat_models() -> list[str]:
    """Chat model ids, cached for GATEWAY_MODELS_CACHE_SECONDS; [] on failure, remembered
    for FAILURE_CACHE_SECONDS only."""
    key = _cache_key()
    models = cache.get(key)
    if models is not None:
        return models
    try:
        models = [m for m in list_models() if is_chat_model(m)]
    except GatewayError as exc:
        logger.warning("Could not list gateway models: %s", exc)
        cache.set(key, [], FAILURE_CACHE_SECONDS)
        return []
    cache.set(key, models, settings.GATEWAY_MODELS_CACHE_SECONDS)
    return models


def is_chat_model(model_id: str) -> bool:
    lowered = model_id.lower()
    return not any(fnmatchcase(lowered, pattern) for pattern in CHAT_EXCLUDE)


def _model_ids(data: Any) -> list[str]:
    """data[].id from new-api ({"success": true, "object": "list", "data": [...]}), older
    one-api shapes, or a bare list; anything unexpected is skipped."""
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    ids = {item.get("id") if isinstance(item, dict) else item for item in items}
    return sorted(i for i in ids if isinstance(i, str) and i.strip())


def _cache_key() -> str:
    # A different gateway or key may allow different models.
    # The raw setting, not origin(): a malformed URL must fail the listing, not the key.
    scope = f"{settings.GATEWAY_BASE_URL}\0{settings.GATEWAY_API_KEY}".encode()
    return "gateway:chat-models:" + hashlib.sha256(scope).hexdigest()[:24]
