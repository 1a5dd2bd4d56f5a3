"""The SVG chart's geometry and the banner's one call per request."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.urls import reverse

from config import context_processors
from usage import charts
from usage.services import BudgetState

DAY = datetime.date(2026, 11, 1)


def _days(*values):
    return [(DAY + datetime.timedelta(days=n), v) for n, v in enumerate(values)]


def test_bars_scale_to_the_tallest_and_sit_on_the_axis():
    bars = charts.bars(_days(Decimal(0), Decimal("0.001"), Decimal(5), Decimal(10)))
    assert bars[0].height == 0
    assert bars[1].height == 1.0  # a tiny non-zero day stays visible
    assert bars[3].height == charts.HEIGHT - 1
    assert bars[2].height == round((charts.HEIGHT - 1) / 2, 2)
    assert all(b.y + b.height == charts.HEIGHT for b in bars)
    assert bars[-1].x + bars[-1].width <= charts.WIDTH
    assert charts.bars([]) == []
    assert [b.height for b in charts.bars(_days(0, 0))] == [0, 0]


def test_the_banner_asks_for_the_budget_once_per_page(bob_client, monkeypatch):
    calls = []

    def fake(team, user):
        calls.append(user.pk)
        return BudgetState("warn", Decimal(9), Decimal(10), Decimal(0), None, 90)

    monkeypatch.setattr(context_processors, "budget_state", fake)
    page = bob_client.get(reverse("accounts:team")).content.decode()
    assert "90% of this month" in page
    assert len(calls) == 1
