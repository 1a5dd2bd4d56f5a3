"""The ledger is append-only: records are never deleted or edited, anywhere; a mistake is
answered by a correction, a new record that moves the month's counters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from tests.factories import make_team, make_user
from tests.usage.ledger import assert_ledger_balances
from usage import services
from usage.models import LedgerIsAppendOnly, MemberMonth, TeamMonth, UsageRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def record(team, bob):
    return services.reserve(
        team=team, user=bob, role="member", kind="chat", model="m", amount=Decimal("0.5")
    )


def test_records_cannot_be_deleted(record):
    with pytest.raises(LedgerIsAppendOnly):
        record.delete()
    with pytest.raises(LedgerIsAppendOnly):
        UsageRecord.objects.filter(pk=record.pk).delete()
    with pytest.raises(LedgerIsAppendOnly):
        UsageRecord.objects.all().delete()
    assert UsageRecord.objects.filter(pk=record.pk).exists()


def test_a_team_with_charges_cannot_be_deleted(record, team):
    with pytest.raises(ProtectedError):
        team.delete()
    assert UsageRecord.objects.filter(pk=record.pk).exists()
    make_team("Never charged", owner=make_user("nobody")).delete()  # nothing to keep


def test_the_admin_only_shows_records(client, root, record):
    client.force_login(root)
    change = client.get(reverse("admin:usage_usagerecord_change", args=[record.pk]))
    assert change.status_code == 200 and b'name="_save"' not in change.content
    delete_url = reverse("admin:usage_usagerecord_delete", args=[record.pk])
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = client.get(reverse("admin:usage_usagerecord_changelist"))
    assert b'value="delete_selected"' not in changelist.content
    assert client.get(reverse("admin:usage_usagerecord_add")).status_code == 403
    assert UsageRecord.objects.filter(pk=record.pk).exists()


def test_a_correction_is_a_settled_record_that_moves_the_counters(team, bob, root, record):
    services.settle(record, cost=Decimal("0.5"))

    fix = services.correct(team=team, user=bob, amount=Decimal("-0.2"), note="double", by=root)

    assert fix.kind == UsageRecord.Kind.CORRECTION and fix.status == UsageRecord.Status.SETTLED
    assert fix.cost == Decimal("-0.2") and fix.corrected_by == root and fix.note == "double"
    month = services.current_month()
    assert TeamMonth.objects.get(team=team, month=month).spent == Decimal("0.3")
    assert MemberMonth.objects.get(team=team, user=bob, month=month).spent == Decimal("0.3")
    assert_ledger_balances(team)


def test_a_correction_in_a_month_without_counters_makes_them(team, bob, root, set_budget):
    set_budget(limit="0")  # a budget never refuses a correction

    services.correct(team=team, user=bob, amount=Decimal("1.25"), note="late charge", by=root)

    assert TeamMonth.objects.get(team=team).spent == Decimal("1.25")
    assert TeamMonth.objects.get(team=team).limit == 0
    assert_ledger_balances(team)


def test_site_admins_correct_through_the_admin(client, root, team, bob):
    client.force_login(root)
    url = reverse("admin:usage_usagerecord_correction")
    assert client.get(url).status_code == 200

    data = {"team": team.pk, "user": bob.pk, "amount": "0.75", "note": "refund by hand"}
    response = client.post(url, data)

    assert response.status_code == 302
    fix = UsageRecord.objects.get(kind=UsageRecord.Kind.CORRECTION)
    assert (fix.team, fix.user, fix.cost, fix.corrected_by) == (team, bob, Decimal("0.75"), root)
    assert_ledger_balances(team)


def test_a_correction_needs_a_member_of_the_team(client, root, team, charlie):
    client.force_login(root)
    data = {"team": team.pk, "user": charlie.pk, "amount": "1", "note": "x"}

    response = client.post(reverse("admin:usage_usagerecord_correction"), data)

    assert response.status_code == 200 and "not a member" in response.content.decode()
    assert not UsageRecord.objects.exists()


def test_staff_who_are_not_site_admins_cannot_correct(client, team, bob):
    staff = make_user("staffer", is_staff=True)
    staff.user_permissions.add(*_usage_permissions())
    client.force_login(staff)
    url = reverse("admin:usage_usagerecord_correction")
    data = {"team": team.pk, "user": bob.pk, "amount": "1", "note": "x"}

    assert client.post(url, data).status_code == 403
    assert not UsageRecord.objects.exists()


def test_the_correction_form_checks_csrf(root, team, bob):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(root)
    data = {"team": team.pk, "user": bob.pk, "amount": "1", "note": "x"}

    assert client.post(reverse("admin:usage_usagerecord_correction"), data).status_code == 403
    assert not UsageRecord.objects.exists()


def _usage_permissions():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="usage")
