"""The SVG chart's geometry, the banner's one call per request, and the pages in zh-Hans."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from usage import charts, services
from usage.models import TeamMonth, UsageRecord, month_of
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
        return BudgetState("warn", Decimal(9), Decimal(10), Decimal(0), None)

    monkeypatch.setattr(services, "budget_state", fake)
    page = bob_client.get(reverse("accounts:team")).content.decode()
    assert "90% of this month" in page
    assert len(calls) == 1


def test_the_money_pages_speak_chinese(alice_client, bob_client, team, alice, settings):

    month = month_of(timezone.localdate())
    TeamMonth.objects.create(team=team, month=month, limit=Decimal(10), spent=Decimal(10))
    for client in (alice_client, bob_client):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    usage = alice_client.get(reverse("usage:overview")).content.decode()
    assert "导出 CSV" in usage and "这段日期内没有用量。" in usage
    UsageRecord.objects.create(
        team=team, user=alice, kind=UsageRecord.Kind.CHAT, model="m", month=month,
        status=UsageRecord.Status.SETTLED, cost=Decimal(1),
    )  # fmt: skip
    usage = alice_client.get(reverse("usage:overview")).content.decode()
    assert "每日费用" in usage
    team_page = alice_client.get(reverse("accounts:team")).content.decode()
    assert "每月预算" in team_page and "保存预算" in team_page
    assert "本月预算已用完" in bob_client.get(reverse("accounts:team")).content.decode()
