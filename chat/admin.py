from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from accounts.admin import TeamAdmin
from accounts.models import User
from chat import export
from chat.models import Conversation, Message, VisionModel
from chat.signals import content_viewed

# What an admin reviews about a message: who spoke, how it ended, what it cost.
MESSAGE_COLUMNS = ("role", "status", "model", "prompt_tokens", "completion_tokens", "created_at")


class AuditedChangeViewMixin:
    """A change page that shows a member's content: each successful view of it sends
    chat.signals.content_viewed (the audit log listens). Subclasses name the action and say
    whose the object is."""

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
                content_viewed.send(
                    sender=type(obj),
                    request=request,
                    obj=obj,
                    owner=self.audit_owner(obj),
                    action=self.audit_action,
                )
        return response


class MessageInline(admin.TabularInline):
    model = Message
    fields = readonly_fields = MESSAGE_COLUMNS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(AuditedChangeViewMixin, admin.ModelAdmin):
    audit_action = "admin: view conversation"
    list_display = [
        "__str__",
        "team",
        "created_by",
        "model",
        "is_shared",
        "message_count",
        "updated_at",
    ]
    list_filter = ["team", "is_shared"]
    list_select_related = ["team", "created_by"]
    search_fields = ["title"]
    fields = [
        "title",
        "team",
        "created_by",
        "model",
        "system_prompt",
        "temperature",
        "is_shared",
        "forked_from",
        "current_leaf",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "team",
        "created_by",
        "forked_from",
        "current_leaf",
        "created_at",
        "updated_at",
    ]
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # conversations start in the app, in a team, by a member

    def audit_owner(self, obj: Conversation) -> User | None:
        return obj.created_by

    @admin.display(description=_("messages"), ordering="message_count")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_count  # type: ignore[attr-defined]


@admin.register(Message)
class MessageAdmin(AuditedChangeViewMixin, admin.ModelAdmin):
    audit_action = "admin: view message"
    list_display = ["__str__", "conversation", *MESSAGE_COLUMNS]
    list_filter = ["role", "status", "model"]
    list_select_related = ["conversation"]
    search_fields = ["content"]

    def audit_owner(self, obj: Message) -> User | None:
        return obj.conversation.created_by

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# A site admin exports a whole team's conversations from the Team admin; the action is chat's
# (accounts imports no other app), added here.
team_actions = [*(TeamAdmin.actions or ()), export.export_teams_json]  # type: ignore[misc]
TeamAdmin.actions = team_actions  # type: ignore[misc]  # a class attribute the admin reads
TeamAdmin.has_export_permission = export.may_export  # type: ignore[attr-defined]


@admin.register(VisionModel)
class VisionModelAdmin(admin.ModelAdmin):
    """Which models can see images (chat.vision): the longest matching pattern decides."""

    list_display = ["pattern", "sees", "url_in_text"]
    list_editable = ["sees", "url_in_text"]
    list_filter = ["sees", "url_in_text"]
    search_fields = ["pattern"]
