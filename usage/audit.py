"""The audit log: a site admin opening someone else's conversation content leaves an entry
(who, what, whose, when, the page). Used by the usage drill-down and the Django admin."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from usage.models import AuditEntry


def log_view(request: HttpRequest, *, action: str, target: str, owner: User | None) -> None:
    """Log that request.user opened `target`, owned by `owner`; nothing for one's own."""
    actor = request.user
    if not isinstance(actor, User) or (owner is not None and owner.pk == actor.pk):
        return
    AuditEntry.objects.create(
        actor=actor,
        action=action[:100],
        target=target[:300],
        owner=owner,
        path=request.get_full_path()[:500],
    )


class AuditedChangeViewMixin:
    """For a ModelAdmin whose change page shows a member's content: each successful view of
    it is logged. Subclasses name the action and say whose the object is."""

    audit_action = "admin: view"

    def audit_owner(self, obj: Any) -> User | None:
        raise NotImplementedError

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        if request.method == "GET" and response.status_code == 200:
            obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
            if obj is not None:
                target = f"{obj._meta.model_name} {obj.pk}: {obj}"
                log_view(
                    request, action=self.audit_action, target=target, owner=self.audit_owner(obj)
                )
        return response
