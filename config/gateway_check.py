"""What the gateway serves, remembered: gateway.probe asks, this module stores the answer (one
config.GatewayCheck row per family) and reads it back through the cache for every page.

- `run()` probes and stores (async: at start, from config.startup.BACKGROUND, never delaying
  serving); `run_now()` is the same for sync code (the admin's "Check the gateway" button).
- `serves()`: family -> bool for the interface. Unknown (the probe got no answer) and never
  checked count as served: a failed probe hides nothing. Templates get it as the lazy
  `gateway_serves` mapping (config.context_processors): `{% if gateway_serves.images %}`.
- `midjourney_features()`: the optional Midjourney routes, False until a check found them.

Every process reads the same rows; the cache in front of them is set by each check and lives
CACHE_SECONDS, so a process with its own cache (the embedded mode's local memory) sees
another's check within that time. Code on an event loop never queries the database here: it
reads the cache, or the copy this process last read.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from config.models import GatewayCheck
from gateway import probe
from gateway.client import aclose_clients

logger = logging.getLogger(__name__)

CACHE_KEY = "config:gateway-check:v1"
CACHE_SECONDS = 60
FAMILIES = probe.FAMILIES

# The answer this process last read or stored: what code on an event loop falls back on.
_last: dict[str, dict[str, Any]] = {}
# The check in flight on each event loop.
_checks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = (
    weakref.WeakKeyDictionary()
)


def stored() -> dict[str, dict[str, Any]]:
    """family -> {state, request, http_status, excerpt, details, checked_at} as last checked
    ({} before the first check)."""
    global _last
    value = cache.get(CACHE_KEY)
    if not isinstance(value, dict):
        if _on_event_loop():
            return _last
        value = {row.family: _as_dict(row) for row in GatewayCheck.objects.all()}
        cache.set(CACHE_KEY, value, CACHE_SECONDS)
    _last = value
    return value


def forget() -> None:
    """Drop this process's copy of the answer (tests: no answer leaks into the next one)."""
    global _last
    _last = {}


def serves() -> dict[str, bool]:
    """Every family -> whether the interface offers it (only a found absence hides)."""
    known = stored()
    return {
        family: known.get(family, {}).get("state") != GatewayCheck.State.ABSENT
        for family in FAMILIES
    }


def midjourney_features() -> dict[str, bool]:
    """The optional Midjourney routes (task_list, queue, cancel); {} before any check."""
    details = stored().get("midjourney", {}).get("details") or {}
    features = details.get("features")
    return {str(k): bool(v) for k, v in features.items()} if isinstance(features, dict) else {}


class GatewayServes:
    """`serves()` for templates, read on first use: a page that never asks costs nothing.
    A name that is not a family raises KeyError, so a misspelt test in a template hides."""

    def __init__(self) -> None:
        self._value: dict[str, bool] | None = None

    def __getitem__(self, family: str) -> bool:
        if self._value is None:
            self._value = serves()
        return self._value[family]

    def __contains__(self, family: object) -> bool:
        return family in FAMILIES

    def items(self) -> list[tuple[str, bool]]:
        return [(family, self[family]) for family in FAMILIES]


def record(findings: list[probe.Finding]) -> dict[str, dict[str, Any]]:
    """Replace the stored answer with `findings` (one per family) and refresh the cache."""
    global _last
    now = timezone.now()
    with transaction.atomic():
        for position, finding in enumerate(findings):
            GatewayCheck.objects.update_or_create(
                family=finding.family,
                defaults={
                    "position": position,
                    "state": finding.state,
                    "request": finding.request[:200],
                    "http_status": finding.status,
                    "excerpt": finding.excerpt[:300],
                    "details": finding.details,
                    "checked_at": now,
                },
            )
        GatewayCheck.objects.exclude(family__in=[f.family for f in findings]).delete()
        value = {row.family: _as_dict(row) for row in GatewayCheck.objects.all()}
    cache.set(CACHE_KEY, value, CACHE_SECONDS)
    _last = value
    return value


async def run() -> list[probe.Finding]:
    """Probe the gateway now and remember the answer. Callers on one event loop at once (the
    start-up check and the media poller's first pass) share one check."""
    loop = asyncio.get_running_loop()
    task = _checks.get(loop)
    if task is None or task.done():
        task = loop.create_task(_run(), name="gateway-check")
        _checks[loop] = task
    return await asyncio.shield(task)


async def _run() -> list[probe.Finding]:
    findings = await probe.check()
    await sync_to_async(record)(findings)
    logger.info("Gateway check: %s", summary(findings))
    return findings


def run_now() -> list[probe.Finding]:
    """`run()` for sync code with no event loop (an admin view): blocks for the check, at
    most probe.TIMEOUT or so, as the probes run at once."""

    async def check() -> list[probe.Finding]:
        try:
            return await probe.check()
        finally:
            await aclose_clients()  # this loop ends here: close its client

    findings = asyncio.run(check())
    record(findings)
    logger.info("Gateway check: %s", summary(findings))
    return findings


def summary(findings: list[probe.Finding]) -> str:
    by_state: dict[str, list[str]] = {}
    for finding in findings:
        by_state.setdefault(finding.state, []).append(finding.family)
    return "; ".join(f"{state} {', '.join(names)}" for state, names in sorted(by_state.items()))


def _as_dict(row: GatewayCheck) -> dict[str, Any]:
    return {
        "state": row.state,
        "request": row.request,
        "http_status": row.http_status,
        "excerpt": row.excerpt,
        "details": row.details,
        "checked_at": row.checked_at,
    }


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
