from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Team, User
from gateway.catalogue import list_chat_models
from usage.models import TeamBudget, UsageRecord

# Roles that can make calls, so the ones an allow-list can narrow.
CALLING_ROLES = (Membership.Role.OWNER, Membership.Role.MEMBER)


def _money(label: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=6,
        help_text=_("In %(currency)s; blank for no limit, 0 refuses every call.")
        % {"currency": settings.USAGE_CURRENCY},
    )


class BudgetForm(forms.Form):
    monthly_limit = _money(_("Monthly budget"))
    member_monthly_cap = _money(_("Monthly cap per member"))

    def __init__(self, *args: Any, budget: TeamBudget | None = None, **kwargs: Any) -> None:
        allowed = (
            budget.allowed_models if budget and isinstance(budget.allowed_models, dict) else {}
        )
        if budget is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "monthly_limit": budget.monthly_limit,
                "member_monthly_cap": budget.member_monthly_cap,
            } | {f"models_{role}": allowed.get(role, []) for role in CALLING_ROLES}
        super().__init__(*args, **kwargs)
        for role in CALLING_ROLES:
            # The catalogue, plus models saved earlier that it no longer (or not yet) lists.
            names = sorted(set(list_chat_models()) | set(allowed.get(role, [])))
            self.fields[f"models_{role}"] = forms.MultipleChoiceField(
                label=_("Models for %(role)s") % {"role": Membership.Role(role).label},
                required=False,
                choices=[(name, name) for name in names],
                widget=forms.CheckboxSelectMultiple,
                help_text=_("None ticked: every model."),
            )

    def model_fields(self) -> list[forms.BoundField]:
        return [self[f"models_{role}"] for role in CALLING_ROLES]

    def allowed_models(self) -> dict[str, list[str]]:
        data = self.cleaned_data
        return {role: data[f"models_{role}"] for role in CALLING_ROLES if data[f"models_{role}"]}


class UsageFilterForm(forms.Form):
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("All")
    )
    user = forms.ModelChoiceField(
        label=_("Member"), queryset=User.objects.none(), required=False, empty_label=_("All")
    )
    model = forms.CharField(label=_("Model"), required=False, max_length=200)
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *UsageRecord.Kind.choices]
    )
    # Narrows the Feedback section only (usage.feedback); the charges are not rated.
    feedback = forms.ChoiceField(
        label=_("Feedback"),
        required=False,
        choices=[
            ("", _("All")),
            ("up", _("Thumbs up")),
            ("down", _("Thumbs down")),
            ("note", _("With a note")),
        ],
    )
    conversation = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any = None, *, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(_with_dates(data), **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        users = User.objects.filter(memberships__team__in=teams).distinct().order_by("username")
        self.fields["user"].queryset = users  # type: ignore[attr-defined]

    def dates(self) -> tuple[datetime.date, datetime.date]:
        """The range asked for; by default the last 30 days up to today."""
        end = self.cleaned_data.get("end") or timezone.localdate()
        start = self.cleaned_data.get("start") or end - datetime.timedelta(days=29)
        return (start, end) if start <= end else (end, start)


def _with_dates(data: Any) -> Any:
    """The query with the default range written in, so the From and To boxes show the dates
    the page is about: by default the 30 days up to today (`dates`)."""
    if data is None:
        return None
    data = data.copy()
    field = forms.DateField()
    try:
        end = field.clean(data.get("end")) if data.get("end") else None
        start = field.clean(data.get("start")) if data.get("start") else None
    except forms.ValidationError:
        return data  # the form says what is wrong
    end = end or timezone.localdate()
    start = start or end - datetime.timedelta(days=29)
    data["start"], data["end"] = start.isoformat(), end.isoformat()
    return data


class CorrectionForm(forms.Form):
    """A site admin's correction of a member's spend this month (usage.services.correct)."""

    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.order_by("name"))
    user = forms.ModelChoiceField(label=_("Member"), queryset=User.objects.order_by("username"))
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=14,
        decimal_places=6,
        help_text=_("In %(currency)s; negative gives money back.")
        % {"currency": settings.USAGE_CURRENCY},
    )
    note = forms.CharField(label=_("Why"), max_length=500)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        team, user = data.get("team"), data.get("user")
        if team and user and not Membership.objects.filter(team=team, user=user).exists():
            self.add_error("user", _("This person is not a member of that team."))
        if data.get("amount") == 0:
            self.add_error("amount", _("A correction of zero changes nothing."))
        return data
