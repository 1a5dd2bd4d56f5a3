"""Prices imported from the gateway (gateway.pricing): rows with source=gateway are created
or updated; prices set by hand (source=manual) are never overwritten."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from gateway.pricing import GatewayPrice, fetch_prices
from usage.models import Price


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    kept_manual: int


def import_prices(prices: list[GatewayPrice]) -> ImportResult:
    created = updated = kept = 0
    with transaction.atomic():
        existing = {p.model: p for p in Price.objects.filter(model__in=[g.model for g in prices])}
        for gp in prices:
            fields = {
                "prompt_per_1k": gp.prompt_per_1k,
                "completion_per_1k": gp.completion_per_1k,
                "per_action": gp.per_call,
                # The gateway bills an images-API call its per-call price per image (times
                # the size and quality ratios): the same number is the price per image.
                "per_image": gp.per_call,
                "source": Price.Source.GATEWAY,
            }
            row = existing.get(gp.model)
            if row is None:
                Price.objects.create(model=gp.model, **fields)
                created += 1
            elif row.source == Price.Source.MANUAL:
                kept += 1
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
                row.save()
                updated += 1
    return ImportResult(created, updated, kept)


def import_from_gateway() -> ImportResult | None:
    """Fetch and import the gateway's prices; None if it does not publish any. Raises
    gateway.errors.GatewayError when the gateway cannot be reached."""
    prices = fetch_prices()
    return None if prices is None else import_prices(prices)
