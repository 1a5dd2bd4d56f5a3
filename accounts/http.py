from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import Membership, Team, User


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    team: Team | None
    membership: Membership | None
    htmx: HtmxDetails
