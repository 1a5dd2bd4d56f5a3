"""A send the month's budget refuses, said so the reader can act on it: an owner raises the
budget (the Team page), a member asks an owner, named."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accounts.models import Membership, Team
from usage import services as money


def refused(team: Any, user: Any) -> str:
    """Why the budget refuses the member's next message, or "" while it does not."""
    state = money.budget_state(team, user)
    if state.level != "over":
        return ""
    if state.team_limit is not None and state.team_used >= state.team_limit:
        return _("This month's team budget is used up.")
    return _("You have used your monthly budget in this team.")


def owner_names(team: Any) -> str:
    owners = Membership.objects.filter(team=team, role=Membership.Role.OWNER)
    return ", ".join(m.user.get_username() for m in owners.select_related("user").order_by("pk"))


def is_owner(team: Any, user: Any) -> bool:
    return Membership.objects.filter(team=team, user=user, role=Membership.Role.OWNER).exists()


def refusal_text(team_id: int, user: Any) -> str:
    """The whole refusal in plain text (the composer of a conversation shows it)."""
    team = Team.objects.get(pk=team_id)
    what = refused(team, user) or _("This month's budget does not pay for this reply.")
    if is_owner(team, user):
        return " ".join([what, _("Raise it on the Team page, under Budget.")])
    how = _("Ask a team owner (%(names)s) to raise it.") % {"names": owner_names(team)}
    return " ".join([what, how])
