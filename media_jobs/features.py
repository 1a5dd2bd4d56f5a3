"""Which optional Midjourney routes the gateway has (task list, queue, cancel): a reader of
the gateway check (config.gateway_check, which gateway.probe answers).

Pages only read (`cached`): no request waits on the gateway. The check runs at start and from
the admin's "Check the gateway" button; the poller runs one itself (`refresh`) when none has
been stored yet. Until then everything optional is hidden, the safe default ("hide what the
gateway lacks").
"""

from __future__ import annotations

from config import gateway_check


def cached() -> dict[str, bool]:
    """The optional routes as last checked; {} before the first check."""
    return gateway_check.midjourney_features()


async def refresh() -> dict[str, bool]:
    """Check the gateway now (every family: one check, one stored answer); Midjourney's part."""
    findings = {finding.family: finding for finding in await gateway_check.run()}
    features = findings["midjourney"].details.get("features") or {}
    return {str(name): bool(flag) for name, flag in features.items()}
