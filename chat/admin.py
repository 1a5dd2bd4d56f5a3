from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.admin import TeamAdmin
from accounts.admin_audit import AuditedAdmin
from chat import export
from chat.models import Conversation, Message, VisionModel

# What an admin reviews about a message: who spoke, how it ended, what it cost.
MESSAGE_COLUMNS = ("role", "status", "model", "prompt_tokens", "completion_tokens", "created_at")


class MessageInline(admin.TabularInline):
    model = Message
    fields = readonly_fields = MESSAGE_COLUMNS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(AuditedAdmin):
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

    @admin.display(description=_("messages"), ordering="message_count")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_count  # type: ignore[attr-defined]


@admin.register(Message)
class MessageAdmin(AuditedAdmin):
    audit_owner_path = "conversation__created_by"
    list_display = ["__str__", "conversation", *MESSAGE_COLUMNS]
    list_filter = ["role", "status", "model"]
    list_select_related = ["conversation"]
    search_fields = ["content"]

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
