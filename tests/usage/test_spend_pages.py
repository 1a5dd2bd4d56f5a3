"""The Team page and the usage page show the same month spend, from one service function
(usage.services.month_spend), with money still reserved shown apart; and site admins see
what has no price of its own, with the import from the gateway one click away."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_user
from usage import services
from usage import views as usage_views
from usage.models import Price, UsageRecord

pytestmark = pytest.mark.django_db
OVERVIEW = reverse("usage:overview")


@pytest.fixture
def root_client(db):
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture(autouse=True)
def _catalogue(monkeypatch):
    monkeypatch.setattr(usage_views, "list_chat_models", lambda: ["gpt-4o-mini", "new-model"])
    monkeypatch.setattr("usage.forms.list_chat_models", lambda: ["gpt-4o-mini"])


def _spend_text(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:p|tr)>', page, re.S)
    assert match, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def _charge(team, user, *, settle: str | None, amount: str) -> UsageRecord:
    record = services.reserve(
        team=team, user=user, role="member", kind="chat", model="gpt-4o-mini",
        amount=Decimal(amount),
    )  # fmt: skip
    if settle is not None:
        services.settle(record, cost=Decimal(settle))
    return record


def test_both_pages_show_the_same_spend_with_reservations_apart(alice_client, team, alice, bob):
    _charge(team, bob, settle="0.85", amount="1")
    _charge(team, alice, settle=None, amount="0.1")  # a stuck job's reservation, say

    team_page = alice_client.get(reverse("accounts:team")).content.decode()
    usage_page = alice_client.get(OVERVIEW).content.decode()

    on_team_page = _spend_text(team_page, "team-spend")
    on_usage_page = _spend_text(usage_page, f"month-spend-{team.pk}")
    assert "0.8500 USD spent + 0.1000 reserved" in on_team_page
    assert "0.8500 USD spent + 0.1000 reserved" in on_usage_page
    assert 'id="usage-total-reserved"' in usage_page  # the range's total says so too


def test_nothing_reserved_shows_only_the_spend(alice_client, team, bob):
    _charge(team, bob, settle="0.95", amount="1")

    team_page = alice_client.get(reverse("accounts:team")).content.decode()
    usage_page = alice_client.get(OVERVIEW).content.decode()

    assert _spend_text(team_page, "team-spend").endswith("0.9500 USD spent")
    assert _spend_text(usage_page, f"month-spend-{team.pk}").endswith("0.9500 USD spent")
    assert "reserved" not in _spend_text(usage_page, f"month-spend-{team.pk}")


def test_owners_see_no_price_section_and_admins_do(alice_client, root_client, team, bob):
    UsageRecord.objects.create(
        team=team, user=bob, kind="chat", model="mystery", month=services.current_month(),
        default_price=True, status="settled", cost=Decimal("0.1"),
    )  # fmt: skip
    Price.objects.create(model="gpt-4o-mini", prompt_per_1k=Decimal(1))

    assert 'id="unpriced"' not in alice_client.get(OVERVIEW).content.decode()
    page = root_client.get(OVERVIEW).content.decode()

    section = page[page.index('id="unpriced"') :]
    assert "<code>mystery</code>" in section and "<code>new-model</code>" in section
    assert "<code>gpt-4o-mini</code>" not in section  # listed, but priced
    assert reverse("usage:import_prices") in section and "csrfmiddlewaretoken" in section
    assert f"{reverse('admin:usage_price_add')}?model=mystery" in section


def test_a_model_priced_since_leaves_the_list(root_client, team, bob):
    UsageRecord.objects.create(
        team=team, user=bob, kind="chat", model="mystery", month=services.current_month(),
        default_price=True, status="settled",
    )  # fmt: skip
    Price.objects.create(model="mystery", prompt_per_1k=Decimal(1))

    assert services.unpriced_models([])["charged"] == []


def test_a_free_default_price_is_warned_about(root_client):
    Price.objects.update_or_create(
        model=Price.DEFAULT, defaults=dict.fromkeys(Price.AMOUNTS, Decimal(0))
    )

    page = root_client.get(OVERVIEW).content.decode()

    assert "Calls without a price are free: the site default price is zero." in page


def test_a_charging_default_price_is_not_warned_about(root_client):
    assert 'id="default-price-warning"' not in root_client.get(OVERVIEW).content.decode()


def test_the_import_button_imports_for_site_admins_only(root_client, alice_client, demo_gateway):
    url = reverse("usage:import_prices")
    assert alice_client.post(url).status_code == 404
    assert not Price.objects.filter(source="gateway").exists()
    assert root_client.get(url).status_code == 405

    response = root_client.post(url, follow=True)

    assert "Imported prices:" in response.content.decode()
    assert Price.objects.filter(model="mj_pan", source="gateway").exists()
