"""The sidebar groups conversations by date in the site's time zone, pinned first, with a
query count that does not grow with the number of conversations."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat.models import Conversation
from chat.views import group_by_date
from tests.factories import make_conversation, make_pin

URL = reverse("chat:home")
# 01:00 on 10 March in Shanghai, still 9 March in UTC.
NOW = datetime(2026, 3, 9, 17, 0, tzinfo=UTC)
TITLE_RE = r'<span id="sidebar-title-[0-9a-f]+" class="conversation-title">(.*?)</span>'


def _at(conversation: Conversation, when: datetime) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=when)
    return conversation


def _groups(content: str) -> list[tuple[str, list[str]]]:
    """(label, titles) for each group of the rendered sidebar, in order."""
    result = []
    for label, items in re.findall(
        r'<h2 class="conversation-group-label">(.*?)</h2>\s*'
        r'<ul class="conversation-group-items">(.*?)</ul>',
        content,
        re.S,
    ):
        titles = re.findall(TITLE_RE, items)
        result.append((label, titles))
    return result


@pytest.fixture
def fixed_now(monkeypatch, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)


def test_the_sidebar_groups_by_date_in_the_sites_time_zone(alice_client, team, alice, fixed_now):
    def at(title, *when):
        return _at(make_conversation(team, alice, title=title), datetime(*when, tzinfo=UTC))

    at("Just now", 2026, 3, 9, 16, 30)  # 00:30 on 10 March in Shanghai
    at("Late last night", 2026, 3, 9, 15, 30)  # 23:30 on 9 March in Shanghai
    at("Three days ago", 2026, 3, 7, 10, 0)
    at("Early March", 2026, 3, 1, 10, 0)
    at("February", 2026, 2, 14, 10, 0)
    make_pin(at("Old but pinned", 2025, 12, 1, 10, 0), alice)
    assert _groups(alice_client.get(URL).content.decode()) == [
        ("Pinned", ["Old but pinned"]),
        ("Today", ["Just now"]),
        ("Yesterday", ["Late last night"]),
        ("Previous 7 days", ["Three days ago"]),
        ("March 2026", ["Early March"]),
        ("February 2026", ["February"]),
    ]


def test_search_results_are_grouped_too(alice_client, team, alice, fixed_now):
    _at(make_conversation(team, alice, title="Zebra today"), NOW)
    content = alice_client.get(reverse("chat:search"), {"q": "zebra"}).content.decode()
    assert _groups(content) == [("Today", ["Zebra today"])]


def test_group_by_date_keeps_the_order_it_is_given():
    class Entry:
        def __init__(self, name, day, pinned=False):
            self.name, self.is_pinned = name, pinned
            self.updated_at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)

    today = date(2026, 3, 10)
    entries = [
        Entry("p", date(2020, 1, 1), pinned=True),
        Entry("a", today),
        Entry("b", date(2026, 3, 4)),
        Entry("c", date(2026, 3, 3)),
    ]
    groups = [(label, [e.name for e in items]) for label, items in group_by_date(entries, today)]
    assert groups == [
        ("Pinned", ["p"]),
        ("Today", ["a"]),
        ("Previous 7 days", ["b"]),
        ("March 2026", ["c"]),
    ]


def _count(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_grouped_sidebar_keeps_a_constant_query_count(alice_client, team, alice, bob):
    _count(alice_client)  # warms the first-run cache
    make_conversation(team, alice, title="One")
    few = _count(alice_client)
    for i in range(12):
        conversation = make_conversation(
            team, bob if i % 2 else alice, title=f"Chat {i}", is_shared=True
        )
        if i % 3 == 0:
            make_pin(conversation, alice)
        _at(conversation, datetime(2025, 1 + i % 12, 5, tzinfo=UTC))
    assert _count(alice_client) == few
