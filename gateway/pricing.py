"""The gateway's published prices: GET /api/pricing (new-api's console route;
docs/gateway-api.md, Prices), turned into prices per 1K tokens and per call in USD.

Not every gateway publishes prices: a 401, a 404 or the console's HTML page means "not
available" (`fetch_prices` returns None), never an error to show. A gateway that cannot be
reached raises gateway.errors.GatewayError like any other call.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from gateway.client import get_sync_client
from gateway.errors import error_from_exception
from gateway.redact import redact_json

PATH = "/api/pricing"
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
GROUP = "default"
PLACES = Decimal("0.000001")
PER_TOKEN, PER_CALL = 0, 1
# Published numbers are hostile input: a ratio or price above this is not a price.
MAX_NUMBER = Decimal(1_000_000)


@dataclass(frozen=True)
class GatewayPrice:
    """One model's price in USD: per 1K prompt and completion tokens, or per call."""

    model: str
    prompt_per_1k: Decimal = Decimal(0)
    completion_per_1k: Decimal = Decimal(0)
    per_call: Decimal = Decimal(0)


def fetch_prices() -> list[GatewayPrice] | None:
    """The gateway's prices now (blocking up to TIMEOUT: for an admin action or start-up),
    or None when the gateway does not publish them."""
    try:
        with get_sync_client() as client:
            response = client.get(PATH, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from exc
    if not response.is_success or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return parse_prices(redact_json(body))


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and 0 <= number <= MAX_NUMBER else None


def parse_prices(body: Any) -> list[GatewayPrice] | None:
    """quota_type 0: USD per 1M prompt tokens = model_ratio * 2, completion = that *
    completion_ratio; quota_type 1: model_price USD per call. Both times the "default"
    group's ratio. Entries that do not fit are skipped; None if the body is not a price list."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    groups = body.get("group_ratio")
    group = _decimal(groups.get(GROUP, 1)) if isinstance(groups, dict) else Decimal(1)
    group = Decimal(1) if group is None else group
    prices = []
    for entry in body["data"]:
        if not isinstance(entry, dict):
            continue
        name = entry.get("model_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            continue
        if entry.get("quota_type") == PER_CALL:
            price = _decimal(entry.get("model_price"))
            if price is not None:
                per_call = (price * group).quantize(PLACES)
                prices.append(GatewayPrice(name.strip(), per_call=per_call))
            continue
        ratio = _decimal(entry.get("model_ratio"))
        completion_ratio = _decimal(entry.get("completion_ratio", 1))
        if ratio is None or completion_ratio is None:
            continue
        prompt = (ratio * 2 * group / 1000).quantize(PLACES)  # per 1M -> per 1K
        completion = (prompt * completion_ratio).quantize(PLACES)
        prices.append(GatewayPrice(name.strip(), prompt, completion))
    return prices
