"""Which optional Midjourney routes the gateway has (task list, queue, cancel): a reader of
the gateway check (config.gateway_check, which gateway.probe answers).

Pages only read (`cached`): no request waits on the gateway. The check runs at start and from
the admin's "Check the gateway" button; the poller runs one itself (`refresh`) when none has
been stored yet. Until then everything optional is hidden, the safe default ("hide what the
gateway lacks").
"""

from __future__ import annotations

from django.core.cache import cache

from config import gateway_check


def cached() -> dict[str, bool]:
    """The optional routes as last checked; {} before the first check."""
    return gateway_check.midjourney_features()


async def refresh() -> dict[str, bool]:
    """Check the gateway now (every family: one check, one stored answer); Midjourney's part."""
    findings = {finding.family: finding for finding in await gateway_check.run()}
    features = findings["midjourney"].details.get("features") or {}
    return {str(name): bool(flag) for name, flag in features.items()}


# --- the images API's optional route: /v1/images/edits -------------------------------

IMAGES_CACHE_KEY = "media_jobs:image_features"
CACHE_SECONDS = 10 * 60  # a known answer is asked again after this long
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
