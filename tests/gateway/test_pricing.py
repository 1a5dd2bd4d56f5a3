"""gateway.pricing: GET /api/pricing read as new-api publishes it (docs/gateway-api.md, Prices)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from gateway.errors import GatewayError
from gateway.pricing import GatewayPrice, fetch_prices, parse_prices

BODY = {
    "success": True,
    "data": [
        {"model_name": "gpt-4o", "quota_type": 0, "model_ratio": 1.25, "model_price": 0,
         "completion_ratio": 4, "owner_by": "openai", "enable_groups": ["default", "vip"],
         "vendor": "a field from a newer version"},
        {"model_name": "mj_imagine", "quota_type": 1, "model_ratio": 0, "model_price": 0.1,
         "completion_ratio": 1, "owner_by": "midjourney", "enable_groups": ["default"]},
        {"model_name": "broken", "quota_type": 0, "model_ratio": "lots"},
        {"model_name": "", "quota_type": 1, "model_price": 1},
        "not an entry",
    ],
    "group_ratio": {"default": 1, "vip": 0.8},
}  # fmt: skip


def test_per_token_and_per_call_prices_are_converted_to_usd():
    assert parse_prices(BODY) == [
        # 1.25 * 2 = 2.5 USD per 1M prompt tokens = 0.0025 per 1K; completion 4 times that.
        GatewayPrice("gpt-4o", Decimal("0.0025"), Decimal("0.01")),
        GatewayPrice("mj_imagine", per_call=Decimal("0.1")),
    ]


def test_the_default_groups_ratio_multiplies_prices():
    body = {**BODY, "group_ratio": {"default": 0.5}}
    prices = {p.model: p for p in parse_prices(body) or []}
    assert prices["gpt-4o"].prompt_per_1k == Decimal("0.00125")
    assert prices["mj_imagine"].per_call == Decimal("0.05")


def test_a_body_that_is_not_a_price_list_is_none():
    assert parse_prices({"success": False, "message": "no"}) is None
    assert parse_prices([1, 2]) is None


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(401, json={"success": False, "message": "未登录"}),
        httpx.Response(404, json={"error": {"message": "Invalid URL"}}),
        httpx.Response(
            200, text="<!doctype html><title>New API</title>", headers={"content-type": "text/html"}
        ),
    ],
)
def test_a_gateway_without_prices_is_not_an_error(gateway, response):
    gateway.reply(response)
    assert fetch_prices() is None
    assert gateway.requests[0].url.path == "/api/pricing"


def test_an_unreachable_gateway_raises_a_gateway_error(gateway):
    gateway.raise_(httpx.ConnectError("refused"))
    with pytest.raises(GatewayError):
        fetch_prices()


def test_the_demo_gateway_publishes_prices_for_its_models(demo_gateway):
    prices = {p.model: p for p in fetch_prices() or []}
    for model in ("gpt-4o-mini", "demo-fast", "demo-slow", "demo-reasoner"):
        assert prices[model].prompt_per_1k > 0 and prices[model].completion_per_1k > 0
    for model in ("mj_imagine", "mj_upscale", "suno_music", "luma_generate"):
        assert prices[model].per_call > 0


def test_absurd_numbers_are_skipped():
    body = {
        "data": [
            {"model_name": "huge", "quota_type": 1, "model_price": 1e30},
            {"model_name": "negative", "quota_type": 0, "model_ratio": -1},
            {"model_name": "nan", "quota_type": 0, "model_ratio": "NaN"},
        ]
    }
    assert parse_prices(body) == []
