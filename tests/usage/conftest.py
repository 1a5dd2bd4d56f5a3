"""Usage fixtures: prices for the chat model, budgets, and the chat and media fixtures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.chat.conftest import (  # noqa: F401  (fixtures)
    _no_generation_left_running,
    alice_cookie,
    alice_socket,
    conversation,
    fake_stream,
)
from tests.media_jobs.conftest import media  # noqa: F401  (fixture)
from usage.models import Price, TeamBudget


@pytest.fixture
def price(db):
    """gpt-4o-mini at 1 per 1K prompt tokens and 2 per 1K completion tokens."""
    return Price.objects.create(
        model="gpt-4o-mini", prompt_per_1k=Decimal(1), completion_per_1k=Decimal(2)
    )


@pytest.fixture
def set_budget(team):
    def install(limit=None, cap=None, allowed=None) -> TeamBudget:
        budget, _created = TeamBudget.objects.update_or_create(
            team=team,
            defaults={
                "monthly_limit": None if limit is None else Decimal(limit),
                "member_monthly_cap": None if cap is None else Decimal(cap),
                "allowed_models": allowed or {},
            },
        )
        return budget

    return install
