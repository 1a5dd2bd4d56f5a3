from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.admin_audit import AuditedAdmin
from media_jobs.models import MediaFile, MediaJob


class MediaFileInline(admin.TabularInline):
    model = MediaFile
    extra = 0
    fields = ("kind", "position", "file", "content_type", "size")
    readonly_fields = fields
    can_delete = False


@admin.register(MediaJob)
class MediaJobAdmin(AuditedAdmin):
    """Prompts and images are a member's content: each page of them is audited."""

    list_display = ("__str__", "team", "kind", "status", "progress", "created_by", "created_at")
    list_filter = ("team", "kind", "status")
    search_fields = ("prompt", "upstream_id", "error")
    list_select_related = ("team", "created_by")
    readonly_fields = ("id", "upstream_id", "error", "created_at", "updated_at", "finished_at")
    raw_id_fields = ("conversation", "message", "parent", "created_by")
    inlines = [MediaFileInline]
    actions = ["repoll"]

    @admin.action(description=_("Poll again now"))
    def repoll(self, request, queryset) -> None:
        count = queryset.active().update(next_poll_at=timezone.now(), lease_until=None)
        self.message_user(request, _("%(count)d jobs will be polled now.") % {"count": count})
