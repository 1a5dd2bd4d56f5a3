"""The money models' own small rules."""

from __future__ import annotations

import datetime

from usage.models import TeamBudget, month_of


def test_a_month_is_keyed_by_its_first_day():
    assert month_of(datetime.date(2026, 11, 30)) == datetime.date(2026, 11, 1)
    assert month_of(datetime.datetime(2026, 12, 1, 0, 0)) == datetime.date(2026, 12, 1)


def test_an_empty_allow_list_allows_every_model():
    budget = TeamBudget(allowed_models={"member": ["gpt-4o-mini"], "viewer": []})
    assert budget.allows("member", "gpt-4o-mini")
    assert not budget.allows("member", "gpt-4o")
    assert budget.allows("viewer", "gpt-4o")
    assert budget.allows("owner", "anything")
