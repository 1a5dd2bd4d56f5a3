"""The usage console in the admin: prices (with an import from the gateway), the ledger with
filters and totals per team and member for what is filtered (view only: the ledger is
append-only; a mistake is answered by a correction), budgets, and the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin_audit import AuditedAdmin
from gateway.errors import GatewayError
from usage import services
from usage.forms import CorrectionForm
from usage.models import AuditEntry, Price, TeamBudget, UsageRecord
from usage.prices import import_from_gateway

# The rows of the totals table under the ledger: beyond this, filter first.
TOTALS_ROWS = 50


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "prompt_per_1k",
        "completion_per_1k",
        "per_image",
        "per_action",
        "per_audio_second",
        "per_1k_characters",
        "source",
        "updated_at",
    ]
    list_filter = ["source"]
    search_fields = ["model"]
    actions = ["import_from_gateway"]

    def save_model(self, request: HttpRequest, obj: Price, form: Any, change: bool) -> None:
        obj.source = Price.Source.MANUAL  # edited by hand: the next import leaves it alone
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The site default ("*") can be changed, even to zero, but not removed.
        if obj is not None and obj.model == Price.DEFAULT:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Price]) -> None:
        queryset.exclude(model=Price.DEFAULT).delete()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # "Add a price" links on the usage page name the model.
        return {"model": request.GET.get("model", "")[:200]}

    @admin.action(description=_("Import prices from the gateway"))
    def import_from_gateway(self, request: HttpRequest, queryset: QuerySet[Price]) -> None:
        try:
            result = import_from_gateway()
        except GatewayError as exc:
            self.message_user(request, exc.user_message, messages.ERROR)
            return
        if result is None:
            self.message_user(
                request, gettext("The gateway does not publish prices."), messages.WARNING
            )
            return
        self.message_user(
            request,
            gettext(
                "Imported prices: %(created)d new, %(updated)d updated, %(kept)d set by hand kept."
            )
            % {"created": result.created, "updated": result.updated, "kept": result.kept_manual},
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # The import needs no selection: allow the action with none selected.
        if request.POST.get("action") == "import_from_gateway" and not request.POST.getlist(
            ACTION_CHECKBOX_NAME
        ):
            post = request.POST.copy()
            post.setlist(ACTION_CHECKBOX_NAME, ["0"])
            request.POST = post  # type: ignore[assignment]
        return super().changelist_view(request, extra_context)


class MonthFilter(admin.SimpleListFilter):
    title = _("month")
    parameter_name = "month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        months = UsageRecord.objects.order_by("-month").values_list("month", flat=True)
        return [(m.isoformat(), f"{m:%Y-%m}") for m in months.distinct()[:24]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[UsageRecord]) -> Any:
        if value := self.value():
            return queryset.filter(month=value)
        return queryset


@admin.register(UsageRecord)
class UsageRecordAdmin(AuditedAdmin):
    # A line names its message (its first words): the ledger's pages are audited too.
    audit_owner_path = "user"
    change_list_template = "admin/usage/usagerecord/change_list.html"
    list_display = [
        "created_at",
        "team",
        "user",
        "kind",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "estimated",
        "default_price",
        "reserved",
        "cost",
        "status",
        "message",
        "job",
    ]
    list_filter = [MonthFilter, "kind", "status", "estimated", "default_price", "team", "model"]
    list_select_related = ["team", "user", "message", "job"]
    search_fields = ["model", "user__username", "team__name"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in UsageRecord._meta.fields]
    raw_id_fields = ["user", "conversation", "message", "job"]

    # The ledger is append-only: view only, no delete action. Corrections are new records.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # charges are made by gateway calls, never by hand

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        correction = self.admin_site.admin_view(self.correction_view)
        return [
            path("correction/", correction, name="usage_usagerecord_correction"),
            *super().get_urls(),
        ]

    def correction_view(self, request: HttpRequest) -> HttpResponse:
        """Site admins: add a correction (a settled record of any sign) to a member's spend."""
        if not request.user.is_superuser:
            raise PermissionDenied
        form = CorrectionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            record = services.correct(
                team=data["team"], user=data["user"], amount=data["amount"],
                note=data["note"], by=request.user,
            )  # fmt: skip
            self.message_user(
                request,
                gettext("Correction of %(amount)s recorded.") % {"amount": record.cost},
            )
            return redirect("admin:usage_usagerecord_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Add a correction"),
            "form": form,
        }
        return TemplateResponse(request, "admin/usage/usagerecord/correction.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            response.context_data["usage_totals"] = usage_totals(changelist.queryset)  # type: ignore[attr-defined]
        return response


def usage_totals(records: QuerySet[UsageRecord]) -> dict[str, list[Any]]:
    """Cost, tokens and calls of `records` per team and per member, largest cost first."""
    sums = {
        "calls": Count("pk"),
        "cost": Sum("cost"),
        "prompt": Sum("prompt_tokens"),
        "completion": Sum("completion_tokens"),
    }
    records = records.order_by()
    teams = records.values("team__name").annotate(**sums).order_by("-cost", "team__name")
    users = (
        records.values("team__name", "user__username")
        .annotate(**sums)
        .order_by("-cost", "team__name", "user__username")
    )
    return {"teams": list(teams[:TOTALS_ROWS]), "users": list(users[:TOTALS_ROWS])}


@admin.register(TeamBudget)
class TeamBudgetAdmin(admin.ModelAdmin):
    list_display = ["team", "monthly_limit", "member_monthly_cap", "updated_at"]
    list_select_related = ["team"]
    search_fields = ["team__name"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "target", "owner", "path"]
    list_filter = ["action"]
    list_select_related = ["actor", "owner"]
    search_fields = ["target", "actor__username", "owner__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
