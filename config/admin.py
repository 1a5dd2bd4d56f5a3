"""The gateway check in the admin: each family the gateway was asked about, found or not, when,
and the evidence (the request, the HTTP status, the start of the answer), with the button
"Check the gateway" that asks again. Site admins only; the rows are written by checks alone."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from config import gateway_check
from config.models import GatewayCheck

# What each family of gateway.probe is, for people.
FAMILY_LABELS = {
    "chat": _("Chat"),
    "images": _("Images"),
    "image_edits": _("Image edits"),
    "audio_transcription": _("Transcription"),
    "audio_translation": _("Audio translation"),
    "audio_speech": _("Speech"),
    "embeddings": _("Embeddings"),
    "completions": _("Text completions"),
    "midjourney": "Midjourney",
    "suno": "Suno",
    "luma": "Luma",
    "prices": _("Prices"),
}


@admin.register(GatewayCheck)
class GatewayCheckAdmin(admin.ModelAdmin):
    change_list_template = "admin/config/gatewaycheck/change_list.html"
    list_display = ["family_name", "state_word", "checked_at", "evidence", "details_summary"]
    list_display_links = None
    actions = None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("family"), ordering="position")
    def family_name(self, obj: GatewayCheck) -> str:
        label = FAMILY_LABELS.get(obj.family)
        return f"{label} ({obj.family})" if label else obj.family

    @admin.display(description=_("state"), ordering="state")
    def state_word(self, obj: GatewayCheck) -> str:
        return format_html(
            '<span class="gateway-state gateway-state-{}">{}</span>',
            obj.state,
            obj.get_state_display(),
        )

    @admin.display(description=_("evidence"))
    def evidence(self, obj: GatewayCheck) -> str:
        """The request, the HTTP status (or none) and the start of the answer."""
        status = str(obj.http_status) if obj.http_status is not None else gettext("no answer")
        return format_html(
            '<div class="gateway-request">{} → {}</div><code class="gateway-excerpt">{}</code>',
            obj.request,
            status,
            obj.excerpt or "—",
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {"title": gettext("What the gateway serves"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("details"))
    def details_summary(self, obj: GatewayCheck) -> str:
        """The family's listed models and Midjourney's optional routes, in a few words."""
        details = obj.details if isinstance(obj.details, dict) else {}
        parts: list[tuple[str, str]] = []
        if models := details.get("models"):
            parts.append((gettext("Models"), ", ".join(map(str, models))))
        if isinstance(features := details.get("features"), dict):
            names = {
                "task_list": gettext("task list"),
                "queue": gettext("queue"),
                "cancel": gettext("cancel"),
            }
            words = [
                f"{names.get(name, name)}: {gettext('yes') if on else gettext('no')}"
                for name, on in features.items()
            ]
            parts.append((gettext("Optional routes"), ", ".join(words)))
        return format_html_join("", '<div class="gateway-details">{}: {}</div>', parts) or "—"

    def get_urls(self) -> list[URLPattern]:
        check = self.admin_site.admin_view(require_POST(self.check_view))
        return [path("check/", check, name="config_gatewaycheck_check"), *super().get_urls()]

    def check_view(self, request: HttpRequest) -> HttpResponse:
        """The button: ask the gateway again now (a few seconds at most), then show the list."""
        if not request.user.is_superuser:
            raise PermissionDenied
        findings = gateway_check.run_now()
        absent = [f.family for f in findings if f.state == GatewayCheck.State.ABSENT]
        unknown = [f.family for f in findings if f.state == GatewayCheck.State.UNKNOWN]
        message = gettext("Checked the gateway: %(found)d of %(total)d families found.") % {
            "found": len(findings) - len(absent) - len(unknown),
            "total": len(findings),
        }
        level = messages.SUCCESS if not unknown else messages.WARNING
        if unknown:
            message += " " + gettext("No clear answer for: %(names)s.") % {
                "names": ", ".join(unknown)
            }
        self.message_user(request, message, level)
        return redirect("admin:config_gatewaycheck_changelist")
