"""usage.services.quote: the one price lookup, for every kind of charge."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from usage import services
from usage.models import Price

pytestmark = pytest.mark.django_db


@pytest.fixture
def image_model(db):
    return Price.objects.create(model="dall-e-3", per_image=Decimal("0.04"))


def test_tokens_are_priced_per_thousand(price):
    quoted = services.quote("gpt-4o-mini", prompt_tokens=1500, completion_tokens=250)
    assert quoted == services.Quote(Decimal("2"), False, "gpt-4o-mini")  # 1.5 + 0.5


def test_calls_are_priced_per_action():
    Price.objects.create(model="mj_imagine", per_action=Decimal("0.1"))
    assert services.quote("mj_imagine", calls=3).amount == Decimal("0.3")


@pytest.mark.parametrize(
    ("size", "quality", "each"),
    [
        ("256x256", "", "0.016"),
        ("512x512", "standard", "0.018"),
        ("1024x1024", "", "0.04"),
        ("1792x1024", "", "0.08"),
        ("1024x1792", "", "0.08"),
        ("1024x1024", "hd", "0.08"),
        ("1792x1024", "hd", "0.12"),  # hd on wide sizes is 1.5, not 2
        ("640x480", "", "0.04"),  # unknown size: as 1024x1024
    ],
)
def test_images_are_priced_by_size_and_quality(image_model, size, quality, each):
    quoted = services.quote("dall-e-3", images=2, size=size, quality=quality)
    assert quoted.amount == 2 * Decimal(each) and not quoted.default_price


def test_audio_seconds_and_characters():
    Price.objects.create(
        model="tts-1", per_audio_second=Decimal("0.001"), per_1k_characters=Decimal("0.015")
    )
    assert services.quote("tts-1", audio_seconds=90).amount == Decimal("0.09")
    assert services.quote("tts-1", characters=4000).amount == Decimal("0.06")


def test_a_model_without_a_price_gets_the_site_default_flagged():
    quoted = services.quote("no-such-model", prompt_tokens=1000, calls=1, images=1)
    default = Price.objects.filter(model="*").first() or Price.site_default()
    expected = default.prompt_per_1k + default.per_action + default.per_image
    assert quoted.default_price and quoted.amount == expected > 0


def test_the_site_default_is_installed_non_zero():
    default = Price.objects.get(model=Price.DEFAULT)  # written by a data migration
    assert default.zero_amounts() == []
    assert default.source == Price.Source.DEFAULT


def test_an_admin_may_make_the_default_free():
    Price.objects.filter(model=Price.DEFAULT).update(**dict.fromkeys(Price.AMOUNTS, Decimal(0)))
    quoted = services.quote("no-such-model", prompt_tokens=1000, calls=1)
    assert quoted.amount == 0 and quoted.default_price
    assert set(services.default_price_warning()) == set(Price.AMOUNTS)


def test_prices_cannot_be_negative():
    with pytest.raises(ValidationError) as invalid:
        Price(model="x", per_image=Decimal("-1")).full_clean()
    assert "per_image" in invalid.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        Price.objects.create(model="y", per_action=Decimal("-0.1"))


def test_an_attached_image_counts_in_the_prompt_estimate():
    from usage.services import IMAGE_TOKENS, estimate_prompt_tokens

    text = [{"role": "user", "content": "What is this?"}]
    parts = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
            ],
        }
    ]

    assert estimate_prompt_tokens(parts) == estimate_prompt_tokens(text) + 2 * IMAGE_TOKENS
