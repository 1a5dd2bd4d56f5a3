"""Templates get the budget state as `budget_state` (computed only when used) and the currency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from config.context_processors import parlor
from usage import services

pytestmark = pytest.mark.django_db

TEMPLATE = Template("{{ budget_state.level }} {{ budget_state.percent }}% {{ USAGE_CURRENCY }}")


def _context(user, team=None):
    request = RequestFactory().get("/")
    request.user = user
    if team is not None:
        request.team = team
    return parlor(request)


def test_templates_see_the_warning_level_of_the_current_team(team, bob, set_budget):
    set_budget(limit="10")
    services.reserve(team=team, user=bob, role="member", kind="chat", model="m",
                     amount=Decimal(9))  # fmt: skip

    assert TEMPLATE.render(Context(_context(bob, team))) == "warn 90% USD"


def test_outside_a_team_there_is_no_budget_state(bob, django_assert_num_queries):
    with django_assert_num_queries(0):
        context = _context(bob)
    assert context["budget_state"]() is None
