"""What the reviewers of a team (site admins, owners: usage.views.reviewable_teams) see of
the thumbs up / down members gave to replies: counts per model and the latest notes.

The ratings are chat's (Feedback, one per user and reply); they are reached through the
ledger's `message` foreign key by name, never by importing chat. A note is written for the
team's reviewers (the form says so) and is shown to whoever may see that member's charges
here; the link to the message follows the charges' rule (usage.views._content_url)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Model, OuterRef, Q, QuerySet, Subquery

from accounts.models import Team
from usage.models import UsageRecord

NOTES_SHOWN = 50
UP, DOWN = "up", "down"


def feedback_model() -> type[Model]:
    """chat's Feedback, through the ledger's foreign key to the message it rates."""
    message = UsageRecord._meta.get_field("message").related_model
    return message._meta.get_field("feedback").related_model  # type: ignore[return-value]


def ratings(data: dict[str, Any], teams: QuerySet[Team], start: Any, end: Any) -> QuerySet[Any]:
    """The feedback on replies in the reviewable `teams` given or changed in the range, by the
    usage page's filters (`data`: its form's cleaned_data)."""
    rows = feedback_model()._default_manager.filter(
        message__conversation__team__in=teams, updated_at__date__range=(start, end)
    )
    if data.get("kind") and data["kind"] != UsageRecord.Kind.CHAT:
        return rows.none()
    for field, lookup in (
        ("team", "message__conversation__team"),
        ("user", "user"),
        ("model", "message__model"),
        ("conversation", "message__conversation"),
    ):
        if data.get(field):
            rows = rows.filter(**{lookup: data[field]})
    which = data.get("feedback")
    if which in (UP, DOWN):
        rows = rows.filter(rating=which)
    elif which == "note":
        rows = rows.exclude(note="")
    return rows


def per_model(rows: QuerySet[Any]) -> list[dict[str, Any]]:
    """Up and down counts (and notes) per model, the most thumbs down first."""
    counts = rows.values("message__model").annotate(
        up=Count("pk", filter=Q(rating=UP)),
        down=Count("pk", filter=Q(rating=DOWN)),
        notes=Count("pk", filter=~Q(note="")),
    )
    return list(counts.order_by("-down", "-up", "message__model"))


def latest_notes(rows: QuerySet[Any]) -> list[Any]:
    """The latest notes, each with its member, team and `record_id`: the first charge of the
    rated reply (a site admin's link to it goes through that charge's audited page)."""
    charge = UsageRecord.objects.filter(message=OuterRef("message")).order_by("pk").values("pk")
    notes = rows.exclude(note="").select_related("user", "message", "message__conversation__team")
    return list(
        notes.annotate(record_id=Subquery(charge[:1])).order_by("-updated_at")[:NOTES_SHOWN]
    )
