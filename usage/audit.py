"""The audit log: a site admin opening someone else's conversation content leaves an entry
(who, what, whose, when, the page). Used by the usage drill-down and the Django admin."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.models import User
from usage.models import AuditEntry


def log_view(request: HttpRequest, *, action: str, target: str, owner: User | None) -> None:
    """Log that request.user opened `target`, owned by `owner`; nothing for one's own."""
    actor = request.user
    if not isinstance(actor, User) or (owner is not None and owner.pk == actor.pk):
        return
    _entry(request, actor, action=action, target=target, owner=owner)


def log_admin_view(sender: Any, *, request: HttpRequest, obj: Any, owner: User | None,
                   action: str, target: str | None = None, **kwargs: Any) -> None:  # fmt: skip
    """accounts.admin_audit.content_viewed: a site admin opened a member's content (an
    object, a list of them, an export) in the admin."""
    if target is None:
        target = f"{obj._meta.model_name} {obj.pk}"  # its str() may be content
    log_view(request, action=action, target=target, owner=owner)


def log_action(request: HttpRequest, *, action: str, target: str, owner: User | None) -> None:
    """Log something request.user did that the admin should be able to trace (a public link
    to a conversation made or revoked), their own content included."""
    actor = request.user if isinstance(request.user, User) else None
    _entry(request, actor, action=action, target=target, owner=owner)


def _entry(
    request: HttpRequest, actor: User | None, *, action: str, target: str, owner: User | None
) -> None:
    AuditEntry.objects.create(
        actor=actor,
        action=action[:100],
        target=target[:300],
        owner=owner,
        path=request.get_full_path()[:500],
    )
