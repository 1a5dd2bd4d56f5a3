"""What people see of the money: the Team page's budget form and spend, the 80 % banner,
the usage page (scope, filters, drill-down, CSV, query count) and the audit log."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from chat.models import Message
from tests.factories import make_conversation, make_job, make_message, make_team, make_user
from usage import forms as usage_forms
from usage.models import AuditEntry, MemberMonth, TeamBudget, TeamMonth, UsageRecord, month_of
from usage.services import budget_state

CATALOGUE = ["gpt-4o", "gpt-4o-mini"]
OVERVIEW = reverse("usage:overview")
EXPORT = reverse("usage:export_csv")


@pytest.fixture(autouse=True)
def _catalogue(monkeypatch):
    """The budget form offers these models; the gateway's listing is never fetched."""
    monkeypatch.setattr(usage_forms, "list_chat_models", lambda: list(CATALOGUE))


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def root_client(root):
    return _client(root)


@pytest.fixture
def charlie_client(charlie, other_team):
    return _client(charlie)


@pytest.fixture
def victor_client(victor, team):
    return _client(victor)


def make_record(team, user, cost="0.5", *, days_ago=0, **extra) -> UsageRecord:
    extra.setdefault("kind", UsageRecord.Kind.CHAT)
    extra.setdefault("model", "gpt-4o-mini")
    extra.setdefault("prompt_tokens", 100)
    extra.setdefault("completion_tokens", 20)
    extra.setdefault("status", UsageRecord.Status.SETTLED)
    when = timezone.now() - datetime.timedelta(days=days_ago)
    record = UsageRecord.objects.create(
        team=team, user=user, cost=Decimal(cost), month=month_of(when), **extra
    )
    UsageRecord.objects.filter(pk=record.pk).update(created_at=when)
    record.refresh_from_db()
    return record


def this_month() -> datetime.date:
    return month_of(timezone.localdate())


# ---------- the budget form on the Team page ----------


def _budget_url(team) -> str:
    return reverse("usage:budget_update", args=[team.pk])


def test_team_page_shows_the_budget_form_to_owners(alice_client):
    page = alice_client.get(reverse("accounts:team")).content.decode()
    assert re.search(r"<label for=\"id_monthly_limit\">Monthly budget</label>", page)
    assert "Save budget" in page
    assert 'value="gpt-4o-mini"' in page  # the catalogue, per role


def test_owner_saves_a_budget_and_this_months_limit_follows(alice_client, team):
    TeamMonth.objects.create(team=team, month=this_month(), limit=Decimal(5))
    data = {"monthly_limit": "12.50", "member_monthly_cap": "3", "models_member": ["gpt-4o"]}
    response = alice_client.post(_budget_url(team), data)
    assert response.status_code == 302
    budget = TeamBudget.objects.get(team=team)
    assert budget.monthly_limit == Decimal("12.5")
    assert budget.member_monthly_cap == Decimal(3)
    assert budget.allowed_models == {"member": ["gpt-4o"]}
    assert TeamMonth.objects.get(team=team).limit == Decimal("12.5")
    page = alice_client.get(reverse("accounts:team")).content.decode()
    assert 'value="12.500000"' in page or 'value="12.5' in page


def test_a_budget_of_zero_is_kept_as_zero_not_as_no_budget(alice_client, team):
    alice_client.post(_budget_url(team), {"monthly_limit": "0", "member_monthly_cap": ""})
    budget = TeamBudget.objects.get(team=team)
    assert budget.monthly_limit == Decimal(0)
    assert budget.member_monthly_cap is None


def test_blank_budget_means_no_limit(alice_client, team):
    TeamBudget.objects.create(team=team, monthly_limit=Decimal(1))
    alice_client.post(_budget_url(team), {"monthly_limit": "", "member_monthly_cap": ""})
    assert TeamBudget.objects.get(team=team).monthly_limit is None


@pytest.mark.parametrize(
    "data",
    [
        {"monthly_limit": "-1"},
        {"monthly_limit": "lots"},
        {"member_monthly_cap": "-0.01"},
        {"models_member": ["not-in-the-catalogue"]},
    ],
)
def test_budget_form_validates(alice_client, team, data):
    response = alice_client.post(_budget_url(team), data)
    assert response.status_code == 400
    assert "Save budget" in response.content.decode()
    assert not TeamBudget.objects.filter(team=team).exists()


def test_budget_is_owner_only(bob_client, victor_client, charlie_client, team):
    data = {"monthly_limit": "1"}
    assert bob_client.post(_budget_url(team), data).status_code == 403
    assert victor_client.post(_budget_url(team), data).status_code == 403
    assert charlie_client.post(_budget_url(team), data).status_code == 404
    assert Client().post(_budget_url(team), data).status_code == 302  # to the login page
    assert not TeamBudget.objects.filter(team=team).exists()


def test_budget_needs_post_and_csrf(alice, team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(_budget_url(team)).status_code == 405
    assert client.post(_budget_url(team), {"monthly_limit": "1"}).status_code == 403
    assert not TeamBudget.objects.filter(team=team).exists()


def test_owner_sees_each_members_spend(alice_client, team, alice, bob):
    TeamMonth.objects.create(team=team, month=this_month(), spent=Decimal("7.25"))
    MemberMonth.objects.create(team=team, user=bob, month=this_month(), spent=Decimal("4.5"))
    MemberMonth.objects.create(
        team=team, user=alice, month=this_month(), spent=Decimal("2.5"), reserved=Decimal("0.25")
    )
    page = alice_client.get(reverse("accounts:team")).content.decode()
    assert "7.25" in page
    bob_row = re.search(r'id="member-spend-\d+"><td>bob</td><td class="num">([^<]+)<', page)
    alice_row = re.search(r'id="member-spend-\d+"><td>alice</td><td class="num">([^<]+)<', page)
    assert bob_row and bob_row.group(1) == "4.5000"
    assert alice_row and alice_row.group(1) == "2.5000"  # spent; reserved in its own column
    assert 'class="num">0.2500<' in page


def test_member_spend_is_one_query_however_many_members(alice_client, team):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            alice_client.get(reverse("accounts:team"))
        return len(queries)

    count()  # the first request also touches the session
    few = count()
    for n in range(5):
        user = make_user(f"extra{n}")
        Membership.objects.create(team=team, user=user, role=Membership.Role.MEMBER)
        MemberMonth.objects.create(team=team, user=user, month=this_month(), spent=Decimal(1))
    assert count() == few


def test_members_see_the_team_spend_and_their_own_but_no_form(bob_client, team, bob):
    TeamMonth.objects.create(team=team, month=this_month(), spent=Decimal("7.25"))
    MemberMonth.objects.create(team=team, user=bob, month=this_month(), spent=Decimal("1.5"))
    page = bob_client.get(reverse("accounts:team")).content.decode()
    assert "7.25" in page and "1.50" in page
    assert "Save budget" not in page and "member-spend-" not in page


def test_viewers_see_no_spend(victor_client, team):
    TeamMonth.objects.create(team=team, month=this_month(), spent=Decimal("7.25"))
    page = victor_client.get(reverse("accounts:team")).content.decode()
    assert "7.25" not in page and 'id="budget"' not in page


# ---------- the 80 % banner ----------


@pytest.mark.parametrize(
    ("spent", "shown"),
    [("7.99", None), ("8", "80% of this month"), ("10", "calls are refused")],
)
def test_banner_at_80_and_100_percent(bob_client, team, spent, shown):
    TeamMonth.objects.create(team=team, month=this_month(), limit=Decimal(10), spent=Decimal(spent))
    page = bob_client.get(reverse("accounts:team")).content.decode()
    if shown is None:
        assert 'id="budget-banner"' not in page
    else:
        assert 'id="budget-banner"' in page and shown in page
        assert re.search(r'id="budget-banner" role="status"', page)


def test_banner_follows_the_members_own_cap(bob_client, alice_client, team, bob):
    TeamMonth.objects.create(team=team, month=this_month(), limit=Decimal(100), spent=Decimal(9))
    MemberMonth.objects.create(
        team=team, user=bob, month=this_month(), limit=Decimal(10), spent=Decimal(9)
    )
    assert "90% of this month" in bob_client.get(reverse("accounts:team")).content.decode()
    assert 'id="budget-banner"' not in alice_client.get(reverse("accounts:team")).content.decode()


def test_budget_state_is_one_query(team, bob, django_assert_num_queries):
    """It runs on every page (the banner): the conversation page allows 10 queries in all."""
    TeamBudget.objects.create(team=team, monthly_limit=Decimal(10))
    TeamMonth.objects.create(team=team, month=this_month(), limit=Decimal(10), spent=Decimal(9))
    MemberMonth.objects.create(team=team, user=bob, month=this_month(), spent=Decimal(9))
    with django_assert_num_queries(1):
        state = budget_state(team, bob)
    assert (state.level, state.team_used, state.member_used) == ("warn", 9, 9)


def test_budget_state_before_the_months_first_call_uses_the_budget(team, bob):
    assert budget_state(team, bob).level == "none"
    TeamBudget.objects.create(team=team, monthly_limit=Decimal(0))
    assert budget_state(team, bob).level == "over"  # 0 refuses every call, from the start
    TeamBudget.objects.filter(team=team).update(monthly_limit=None, member_monthly_cap=0)
    state = budget_state(team, bob)
    assert (state.level, state.team_limit, state.member_limit) == ("over", None, 0)


def test_budget_state_counts_what_is_in_flight(team, bob):
    TeamMonth.objects.create(
        team=team, month=this_month(), limit=Decimal(10), spent=Decimal(8), reserved=Decimal(1)
    )
    state = budget_state(team, bob)
    assert state.level == "warn" and state.percent == 90


# ---------- the usage page: who sees what ----------


@pytest.fixture
def records(team, other_team, alice, bob, charlie):
    return {
        "alice": make_record(team, alice, "1.25"),
        "bob": make_record(team, bob, "2.5", model="gpt-4o", days_ago=1),
        "charlie": make_record(other_team, charlie, "40", model="claude-3"),
    }


def test_usage_link_in_the_nav_for_owners_and_admins(alice_client, bob_client, root_client):
    assert f'href="{OVERVIEW}"' in alice_client.get(reverse("accounts:team")).content.decode()
    assert f'href="{OVERVIEW}"' not in bob_client.get(reverse("accounts:team")).content.decode()
    assert f'href="{OVERVIEW}"' in root_client.get(reverse("accounts:settings")).content.decode()


def test_admin_sees_every_team(root_client, records):
    response = root_client.get(OVERVIEW)
    assert response.status_code == 200
    teams = {row["team__name"] for row in response.context["by_team"]}
    assert teams == {"Acme", "Charlie's"}
    assert response.context["total"]["cost_sum"] == Decimal("43.75")


def test_owner_sees_only_their_team(alice_client, records):
    response = alice_client.get(OVERVIEW)
    assert response.status_code == 200
    assert {row["team__name"] for row in response.context["by_team"]} == {"Acme"}
    assert response.context["total"]["cost_sum"] == Decimal("3.75")
    assert "claude-3" not in response.content.decode()


def test_charlie_sees_no_other_teams_numbers(charlie_client, records, team, bob):
    response = charlie_client.get(OVERVIEW)
    assert response.context["total"]["cost_sum"] == Decimal(40)
    page = response.content.decode()
    assert "Acme" not in page and "gpt-4o" not in page
    assert charlie_client.get(OVERVIEW, {"team": team.pk}).status_code == 404
    assert charlie_client.get(OVERVIEW, {"user": bob.pk}).status_code == 404
    assert charlie_client.get(EXPORT, {"team": team.pk}).status_code == 404
    body = b"".join(charlie_client.get(EXPORT).streaming_content).decode()
    assert "Acme" not in body and "40" in body


def test_members_and_viewers_get_403(bob_client, victor_client, records):
    assert bob_client.get(OVERVIEW).status_code == 403
    assert victor_client.get(OVERVIEW).status_code == 403
    assert bob_client.get(EXPORT).status_code == 403


def test_anonymous_is_sent_to_log_in(db):
    assert Client().get(OVERVIEW).status_code == 302
    assert Client().get(EXPORT).status_code == 302


# ---------- filters, chart, drill-down ----------


def test_filters(root_client, records, team, bob):
    def total(**params) -> Decimal:
        return root_client.get(OVERVIEW, params).context["total"]["cost_sum"] or Decimal(0)

    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    assert total(team=team.pk) == Decimal("3.75")
    assert total(user=bob.pk) == Decimal("2.5")
    assert total(model="gpt-4o") == Decimal("2.5")
    assert total(kind="image") == Decimal(0)
    assert total(start=today, end=today) == Decimal("41.25")
    assert total(start=yesterday, end=yesterday) == Decimal("2.5")
    make_record(team, bob, "100", days_ago=60)
    assert total() == Decimal("43.75")  # the default range is the last 30 days
    assert total(start=today - datetime.timedelta(days=61)) == Decimal("143.75")


def test_chart_is_svg_without_style_attributes_and_has_a_table(root_client, records):
    response = root_client.get(OVERVIEW)
    page = response.content.decode()
    assert "Content-Security-Policy" in response.headers
    assert page.count('class="chart-bar"') == 60  # 30 days, cost and tokens
    assert " style=" not in page and "<script>" not in page
    assert "<caption>Per day</caption>" in page


def test_drill_down_links(root_client, records, team, bob):
    page = root_client.get(OVERVIEW).content.decode()
    today = timezone.localdate().isoformat()
    assert f'href="{OVERVIEW}?start={today}&amp;end={today}"' in page  # chart -> a day
    assert f'href="{OVERVIEW}?team={team.pk}"' in page  # -> team
    drilled = root_client.get(OVERVIEW, {"team": team.pk}).content.decode()
    assert f'href="{OVERVIEW}?team={team.pk}&amp;user={bob.pk}"' in drilled  # -> member


def test_owner_drills_down_to_messages_they_may_read(alice_client, team, alice, bob):
    shared = make_conversation(team, bob, is_shared=True)
    private = make_conversation(team, bob)
    reply = make_message(shared, role=Message.Role.ASSISTANT, content="shared words")
    hidden = make_message(private, role=Message.Role.ASSISTANT, content="private words")
    make_record(team, bob, conversation=shared, message=reply)
    make_record(team, bob, conversation=private, message=hidden)
    page = alice_client.get(OVERVIEW).content.decode()
    conversation_url = reverse("chat:conversation", args=[shared.pk])
    assert f'href="{conversation_url}#message-{reply.pk}"' in page  # -> message
    assert f"#message-{hidden.pk}" not in page  # private to bob: access.py says no
    assert f"?conversation={private.pk}" in page  # its numbers still drill down
    narrowed = alice_client.get(OVERVIEW, {"conversation": str(shared.pk)})
    assert narrowed.context["total"]["calls"] == 1
    assert alice_client.get(conversation_url).status_code == 200


def test_admin_drills_down_to_a_message_and_a_job(root_client, team, bob):
    conversation = make_conversation(team, bob)
    reply = make_message(conversation, role=Message.Role.ASSISTANT, content="the secret recipe")
    job = make_job(team, bob, prompt="a lighthouse at dusk")
    on_message = make_record(team, bob, conversation=conversation, message=reply)
    on_job = make_record(team, bob, kind=UsageRecord.Kind.MIDJOURNEY, job=job)
    page = root_client.get(OVERVIEW).content.decode()
    assert reverse("usage:record", args=[on_message.pk]) in page
    assert reverse("usage:record", args=[on_job.pk]) in page
    assert "the secret recipe" not in page  # content only behind the audited link
    job_page = root_client.get(reverse("usage:record", args=[on_job.pk])).content.decode()
    assert "a lighthouse" in job_page


def test_records_at_the_default_price_are_flagged(root_client, team, bob):
    make_record(team, bob, model="mystery-model", default_price=True)
    response = root_client.get(OVERVIEW)
    assert response.context["total"]["defaulted"] == 1
    assert 'badge-warn">default price' in response.content.decode()
    clean = make_team("Clean", owner=make_user("dora"))
    page = root_client.get(OVERVIEW, {"team": clean.pk}).content.decode()
    assert 'badge-warn">default price' not in page


# ---------- CSV ----------


def _csv(client, params=None) -> list[dict[str, str]]:
    response = client.get(EXPORT, params or {})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("who", ["root", "alice"])
def test_csv_totals_match_the_page(who, root_client, alice_client, records, team, bob):
    client = root_client if who == "root" else alice_client
    for params in ({}, {"team": team.pk}, {"user": bob.pk}, {"model": "gpt-4o-mini"}):
        rows = _csv(client, params)
        page_total = client.get(OVERVIEW, params).context["total"]
        assert sum(Decimal(r["cost"]) for r in rows) == (page_total["cost_sum"] or 0)
        assert len(rows) == page_total["calls"]


def test_the_page_links_the_csv_of_its_filters(alice_client, records, bob):
    page = alice_client.get(OVERVIEW, {"user": bob.pk}).content.decode()
    assert re.search(rf'href="{EXPORT}\?user={bob.pk}"[^>]*>Export CSV<', page)


# ---------- queries do not grow with the records shown ----------


def test_usage_page_queries_do_not_grow_with_records(root_client, team, bob, alice):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = root_client.get(OVERVIEW)
        assert response.status_code == 200
        return len(queries)

    def add(n: int) -> None:
        for i in range(n):
            conversation = make_conversation(team, bob if i % 2 else alice)
            message = make_message(conversation, role=Message.Role.ASSISTANT)
            make_record(team, bob if i % 2 else alice, conversation=conversation, message=message)
            make_record(team, bob, kind=UsageRecord.Kind.MIDJOURNEY, job=make_job(team, bob))

    add(3)
    count()  # the first request also touches the session
    few = count()
    add(27)
    assert count() == few


def test_owner_page_queries_do_not_grow_with_records(alice_client, team, bob, alice):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            alice_client.get(OVERVIEW)
        return len(queries)

    def add(n: int) -> None:
        for _ in range(n):
            conversation = make_conversation(team, bob, is_shared=True)
            message = make_message(conversation, role=Message.Role.ASSISTANT)
            make_record(team, bob, conversation=conversation, message=message)
            make_record(team, bob, kind=UsageRecord.Kind.MIDJOURNEY, job=make_job(team, bob))

    add(3)
    count()  # the first request also touches the session
    few = count()
    add(27)
    assert count() == few


# ---------- audit ----------


def test_admin_reading_a_members_message_is_audited_and_listed(root_client, root, team, bob):
    conversation = make_conversation(team, bob, title="Bob's plans")
    reply = make_message(conversation, role=Message.Role.ASSISTANT, content="the secret recipe")
    charge = make_record(team, bob, conversation=conversation, message=reply)
    response = root_client.get(reverse("usage:record", args=[charge.pk]))
    assert response.status_code == 200
    assert "the secret recipe" in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.owner, entry.action) == (root, bob, "view message")
    assert str(reply.pk) in entry.target and entry.path == reverse("usage:record", args=[charge.pk])
    log = root_client.get(reverse("usage:audit")).content.decode()
    assert "view message" in log and "bob" in log and "root" in log
    assert reverse("usage:audit") in root_client.get(OVERVIEW).content.decode()


def test_admin_reading_their_own_content_is_not_audited(root_client, root):
    team = make_team("Root's", owner=root)
    conversation = make_conversation(team, root)
    reply = make_message(conversation, role=Message.Role.ASSISTANT)
    charge = make_record(team, root, conversation=conversation, message=reply)
    assert root_client.get(reverse("usage:record", args=[charge.pk])).status_code == 200
    assert not AuditEntry.objects.exists()


def test_record_and_audit_pages_are_for_site_admins_only(alice_client, charlie_client, team, bob):
    conversation = make_conversation(team, bob, is_shared=True)
    reply = make_message(conversation, role=Message.Role.ASSISTANT)
    charge = make_record(team, bob, conversation=conversation, message=reply)
    for client in (alice_client, charlie_client):
        assert client.get(reverse("usage:record", args=[charge.pk])).status_code == 404
        assert client.get(reverse("usage:audit")).status_code == 404
    assert not AuditEntry.objects.exists()


def test_record_page_404s_for_unknown_ids(root_client):
    assert root_client.get(reverse("usage:record", args=[999])).status_code == 404


def test_a_range_without_usage_says_so_instead_of_empty_charts(alice_client, team, alice):
    make_record(team, alice, days_ago=60)  # outside the default 30 days
    response = alice_client.get(OVERVIEW)
    page = response.content.decode()
    assert 'id="usage-empty"' in page and "No usage in these dates." in page
    assert "usage-chart-pair" not in page and "usage-records" not in page

    shown = alice_client.get(
        OVERVIEW, {"start": (timezone.localdate() - datetime.timedelta(days=61)).isoformat()}
    )
    assert 'id="usage-empty"' not in shown.content.decode()


def test_the_date_boxes_show_the_range_the_page_is_about(alice_client, team):
    today = timezone.localdate()
    page = alice_client.get(OVERVIEW).content.decode()
    assert f'name="end" value="{today.isoformat()}"' in page
    assert f'name="start" value="{(today - datetime.timedelta(days=29)).isoformat()}"' in page

    page = alice_client.get(OVERVIEW, {"end": "2026-01-31"}).content.decode()
    assert 'name="start" value="2026-01-02"' in page and "From 2026-01-02 to 2026-01-31" in page
