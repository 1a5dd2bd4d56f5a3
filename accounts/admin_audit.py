"""The audit of the Django admin: every admin page that can show a member's content (a
conversation, its messages and attachments, a media job and its files, a ledger line naming a
message) leaves an entry when a site admin opens it, whoever registered the admin.

`AuditedAdmin` is the ModelAdmin of such a model: its change, delete-confirmation and history
pages and its list page send `content_viewed` when they show someone else's content (a list
only when a row on the page is someone else's). The audit log (usage.audit) listens; accounts
imports no other app, hence the signal. tests/usage/test_admin_audit.py finds every model that
holds member content and fails for an admin of one that is not an AuditedAdmin.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from accounts.models import User

# content_viewed(sender=<model class>, request=..., obj=<object or None for a list>,
#                owner=<User or None>, action=<str>, target=<str>)
content_viewed = Signal()


def _english(text: Any) -> str:
    # Stored actions read the same whatever language the admin used.
    with translation.override("en"):
        return str(text)


class AuditedAdmin(admin.ModelAdmin):
    # Whose content an object is: a path of attributes ("conversation__created_by"), which a
    # list page also reads as a lookup, one query for the page.
    audit_owner_path = "created_by"

    def audit_owner(self, obj: models.Model) -> User | None:
        value: Any = obj
        for name in self.audit_owner_path.split("__"):
            value = getattr(value, name, None)
            if value is None:
                return None
        return value

    def _send(self, request: HttpRequest, *, obj: Any, owner: User | None, action: str,
              target: str) -> None:  # fmt: skip
        content_viewed.send(
            sender=self.model, request=request, obj=obj, owner=owner, action=action,
            target=target,
        )  # fmt: skip

    def _audit_object(
        self, request: HttpRequest, object_id: str, response: HttpResponse, page: str
    ) -> None:
        if request.method != "GET" or response.status_code != 200:
            return
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return
        name = _english(self.model._meta.verbose_name)
        action = f"admin: view {name}" + ("" if page == "change" else f" ({page} page)")
        # The object by its key only: its str() may be content (a title, a message's words),
        # which the log must not copy to its own readers.
        target = f"{self.model._meta.model_name} {obj.pk}"
        self._send(request, obj=obj, owner=self.audit_owner(obj), action=action, target=target)

    def _audit_list(self, request: HttpRequest, changelist: ChangeList) -> None:
        shown = [obj.pk for obj in changelist.result_list]
        owners = set(
            self.model._base_manager.filter(pk__in=shown)
            .values_list(self.audit_owner_path, flat=True)
            .distinct()
        )
        others = owners - {request.user.pk}
        if not others:
            return  # an empty page, or only one's own content
        owner = User.objects.filter(pk=others.pop()).first() if len(others) == 1 else None
        plural = _english(self.model._meta.verbose_name_plural)
        target = f"{plural}: {len(shown)} shown of {changelist.result_count}"
        self._send(request, obj=None, owner=owner, action=f"admin: list {plural}", target=target)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        self._audit_object(request, object_id, response, "change")
        return response

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().delete_view(request, object_id, extra_context)
        self._audit_object(request, object_id, response, "delete")
        return response

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().history_view(request, object_id, extra_context)
        self._audit_object(request, object_id, response, "history")
        return response

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if request.method == "GET" and response.status_code == 200 and changelist is not None:
            self._audit_list(request, changelist)
        return response
