"""Which optional Midjourney routes the gateway has (task list, queue, cancel), cached.

Pages only read the cache (`cached`): no request waits on the gateway. The engine refreshes
it off the request thread: `await refresh()` at poller start and every CACHE_SECONDS.
Until then everything optional is hidden, the safe default ("hide what the gateway lacks").
"""

from __future__ import annotations

import dataclasses

from django.core.cache import cache

from gateway import midjourney

CACHE_KEY = "media_jobs:mj_features"
CACHE_SECONDS = 600


def cached() -> dict[str, bool]:
    value = cache.get(CACHE_KEY)
    return value if isinstance(value, dict) else {}


def store(features: midjourney.Features) -> dict[str, bool]:
    value = {name: bool(flag) for name, flag in dataclasses.asdict(features).items()}
    cache.set(CACHE_KEY, value, CACHE_SECONDS)
    return value


async def refresh() -> dict[str, bool]:
    """Ask the gateway (async, from the poller) and cache the answer."""
    return store(await midjourney.features())


# --- the images API's optional route: /v1/images/edits -------------------------------

IMAGES_CACHE_KEY = "media_jobs:image_features"
# A gateway that did not answer the probe is asked again after this long.
IMAGES_UNKNOWN_SECONDS = 60


def images_cached() -> dict[str, bool]:
    """{"edits": bool} once probed; {} before (edits stay hidden until then)."""
    value = cache.get(IMAGES_CACHE_KEY)
    return value if isinstance(value, dict) else {}


async def refresh_images() -> dict[str, bool]:
    """Probe /v1/images/edits (gateway.images.edits_available: a 501 or 404 means absent)
    and cache the answer; a gateway that did not answer counts as absent for a minute."""
    from gateway import images

    available = await images.edits_available()
    value = {"edits": bool(available)}
    cache.set(IMAGES_CACHE_KEY, value, CACHE_SECONDS if available is not None
              else IMAGES_UNKNOWN_SECONDS)  # fmt: skip
    return value
