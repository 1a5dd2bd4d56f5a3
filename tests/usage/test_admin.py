"""The usage console in the admin: the price import, the ledger's totals, the audit log."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import make_user
from usage import services
from usage.admin import usage_totals
from usage.models import AuditEntry, Price, UsageRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client, db):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_import_creates_gateway_prices_and_keeps_manual_ones(root_client, demo_gateway):
    Price.objects.create(model="gpt-4o-mini", prompt_per_1k=Decimal(9), source="manual")
    Price.objects.create(model="demo-fast", prompt_per_1k=Decimal(9), source="gateway")

    response = root_client.post(
        reverse("admin:usage_price_changelist"), {"action": "import_from_gateway"}, follow=True
    )

    assert "Imported prices:" in response.content.decode()
    assert Price.objects.get(model="gpt-4o-mini").prompt_per_1k == 9  # set by hand: kept
    fast = Price.objects.get(model="demo-fast")
    assert fast.prompt_per_1k == Decimal("0.0001") and fast.source == "gateway"
    imagine = Price.objects.get(model="mj_imagine")
    assert imagine.per_action == Decimal("0.1") and imagine.source == "gateway"


def test_a_price_edited_in_the_admin_becomes_manual(root_client):
    price = Price.objects.create(model="demo-fast", source="gateway")
    url = reverse("admin:usage_price_change", args=[price.pk])
    data = {
        "model": "demo-fast", "prompt_per_1k": "1", "completion_per_1k": "2", "per_image": "0",
        "per_action": "0", "per_audio_second": "0", "per_1k_characters": "0",
        "source": "gateway",
    }  # fmt: skip
    assert root_client.post(url, data).status_code == 302
    assert Price.objects.get(pk=price.pk).source == "manual"


def _charge(team, user, cost):
    record = services.reserve(
        team=team, user=user, role="member", kind="chat", model="m", amount=Decimal(cost)
    )
    services.settle(record, cost=Decimal(cost), prompt_tokens=10, completion_tokens=5)


def test_the_ledger_shows_totals_per_team_and_member_for_the_filter(
    root_client, team, alice, bob, other_team, charlie
):
    _charge(team, alice, "1")
    _charge(team, bob, "2")
    _charge(team, bob, "0.5")
    _charge(other_team, charlie, "4")

    totals = usage_totals(UsageRecord.objects.filter(team=team))
    assert [(t["team__name"], t["calls"], t["cost"]) for t in totals["teams"]] == [
        (team.name, 3, Decimal("3.5"))
    ]
    assert [(u["user__username"], u["cost"], u["prompt"]) for u in totals["users"]] == [
        ("bob", Decimal("2.5"), 20),
        ("alice", Decimal(1), 10),
    ]
    response = root_client.get(reverse("admin:usage_usagerecord_changelist"), {"kind": "chat"})
    assert response.status_code == 200
    assert 'id="usage-totals-users"' in response.content.decode()
    assert len(response.context["usage_totals"]["teams"]) == 2


def test_the_audit_log_is_read_only(root_client, alice):
    entry = AuditEntry.objects.create(actor=alice, action="viewed", target="conversation 1")
    assert root_client.get(reverse("admin:usage_auditentry_changelist")).status_code == 200
    change = root_client.get(reverse("admin:usage_auditentry_change", args=[entry.pk]))
    assert b'name="_save"' not in change.content
    assert root_client.get(reverse("admin:usage_auditentry_add")).status_code == 403


def test_prices_are_imported_at_start_until_some_come_from_the_gateway(demo_gateway):
    from config import startup

    # A fresh install: only the installed site default.
    Price.objects.exclude(model="*").delete()
    Price.objects.get_or_create(model="*", defaults={"source": "default", "per_action": 1})
    said: list[str] = []
    startup.import_prices_at_start(said.append)
    assert Price.objects.filter(model="gpt-4o-mini", source="gateway").exists()
    imported = Price.objects.filter(source="gateway").count()
    assert said == [f"Imported {imported} prices from the gateway."]

    Price.objects.filter(model="gpt-4o-mini").delete()
    startup.import_prices_at_start(said.append)  # gateway prices exist: nothing imported
    assert not Price.objects.filter(model="gpt-4o-mini").exists()


def test_the_site_default_price_can_be_changed_but_not_deleted(root_client):
    default, _created = Price.objects.get_or_create(model="*")
    other = Price.objects.create(model="old-model")
    url = reverse("admin:usage_price_delete", args=[default.pk])
    assert root_client.post(url, {"post": "yes"}).status_code == 403
    root_client.post(
        reverse("admin:usage_price_changelist"),
        {"action": "delete_selected", "_selected_action": [default.pk, other.pk], "post": "yes"},
    )
    assert Price.objects.filter(model="*").exists()  # a selection with it deletes nothing
    root_client.post(
        reverse("admin:usage_price_changelist"),
        {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"},
    )
    assert not Price.objects.filter(model="old-model").exists()


def test_add_a_price_links_name_the_model(root_client):
    page = root_client.get(reverse("admin:usage_price_add"), {"model": "mystery"})
    assert b'value="mystery"' in page.content
