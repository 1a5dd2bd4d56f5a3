"""What people see of the money: the budget form of the Team page, the usage page (chart,
totals, this month's spend, records, drill-down, CSV, and for site admins what has no price)
for site admins and owners, and the audit log.

What a charge paid for (a conversation's message, a media job) is reached through the
ledger's foreign keys by name, never by importing the app that owns it."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from accounts.models import Membership, Team, TeamOwnedQuerySet, User
from gateway.catalogue import list_chat_models
from gateway.errors import GatewayError
from usage import charts, feedback, services, spreadsheet
from usage.audit import log_view
from usage.forms import BudgetForm, UsageFilterForm
from usage.models import ZERO, AuditEntry, TeamBudget, UsageRecord
from usage.prices import import_from_gateway

RECORDS_SHOWN = 100
MAX_CHART_DAYS = 366
TOKENS = F("prompt_tokens") + F("completion_tokens")


def is_site_admin(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def reviewable_teams(user: User) -> QuerySet[Team]:
    """Every team for site admins; the teams a user owns for everyone else."""
    if is_site_admin(user):
        return Team.objects.order_by("name")
    owned = Membership.objects.filter(user=user, role=Membership.Role.OWNER)
    return Team.objects.filter(pk__in=owned.values("team_id")).order_by("name")


@login_required
@require_POST
def budget_update(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    team, _membership = access.get_owned_team_for_user(request.user, team_id)
    form = BudgetForm(request.POST, budget=services.team_budget(team))
    if not form.is_valid():
        return render(request, "usage/budget_form.html", {"team": team, "form": form}, status=400)
    TeamBudget.objects.update_or_create(
        team=team,
        defaults={
            "monthly_limit": form.cleaned_data["monthly_limit"],
            "member_monthly_cap": form.cleaned_data["member_monthly_cap"],
            "allowed_models": form.allowed_models(),
        },
    )
    # Saving a TeamBudget copies its limits into this month's counters (usage.apps).
    messages.success(request, _("Budget saved."))
    return redirect("accounts:team")


def _filter_form(request: HttpRequest) -> tuple[UsageFilterForm, QuerySet[Team]]:
    teams = reviewable_teams(request.user)  # type: ignore[arg-type]
    if not is_site_admin(request.user) and not teams.exists():
        raise PermissionDenied
    form = UsageFilterForm(request.GET, teams=teams)
    if not form.is_valid() and ("team" in form.errors or "user" in form.errors):
        raise Http404  # a team or member outside what the user may review
    return form, teams


def _records(form: UsageFilterForm, teams: QuerySet[Team]) -> QuerySet[UsageRecord]:
    start, end = form.dates()
    records = UsageRecord.objects.filter(team__in=teams, created_at__date__range=(start, end))
    data = getattr(form, "cleaned_data", {})
    for field in ("team", "user", "model", "kind", "conversation"):
        if data.get(field):
            records = records.filter(**{field: data[field]})
    return records


def _totals(records: QuerySet[UsageRecord], *fields: str) -> list[dict[str, Any]]:
    rows = records.values(*fields).annotate(
        cost_sum=Sum("cost"),
        tokens=Sum(TOKENS),
        calls=Count("pk"),
        defaulted=Count("pk", filter=Q(default_price=True)),
    )
    return list(rows.order_by("-cost_sum", *fields))


def _daily(
    records: QuerySet[UsageRecord], start: datetime.date, end: datetime.date, query: QueryDict
) -> list[dict[str, Any]]:
    """Cost and tokens for each day of the range (empty days too), each with its drill link."""
    rows = records.annotate(day=TruncDate("created_at")).values("day")
    found: dict[datetime.date, dict[str, Any]] = {
        r["day"]: dict(r) for r in rows.annotate(cost_sum=Sum("cost"), tokens=Sum(TOKENS))
    }
    start = max(start, end - datetime.timedelta(days=MAX_CHART_DAYS - 1))
    days = [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]
    return [
        {
            "day": day,
            "cost": found.get(day, {}).get("cost_sum") or ZERO,
            "tokens": found.get(day, {}).get("tokens") or 0,
            "url": _drill(query, start=day, end=day),
        }
        for day in days
    ]


def _chart(daily: list[dict[str, Any]], key: str) -> list[charts.Bar]:
    bars = charts.bars([(day["day"], day[key]) for day in daily])
    for bar, day in zip(bars, daily, strict=True):
        bar.url = day["url"]
    return bars


def _readable(link: str, user: User, ids: set[Any]) -> set[Any]:
    """Which of `ids` (of the model the ledger's `link` foreign key points at, a team-owned
    one) `user` may read: one query."""
    field = UsageRecord._meta.get_field(link)
    objects = field.related_model._default_manager.all()  # type: ignore[union-attr]
    assert isinstance(objects, TeamOwnedQuerySet)
    return set(objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))


def _shown(records: QuerySet[UsageRecord], user: User) -> list[UsageRecord]:
    """The latest records, each with the link its content may be opened by (or none)."""
    rows = list(records.select_related("team", "user", "conversation", "job")[:RECORDS_SHOWN])
    admin = is_site_admin(user)
    readable: dict[str, set[Any]] = {"conversation": set(), "job": set()}
    if not admin:
        for link in readable:
            ids = {getattr(r, f"{link}_id") for r in rows} - {None}
            readable[link] = _readable(link, user, ids) if ids else set()
    for record in rows:
        record.content_url = _content_url(record, admin, readable)  # type: ignore[attr-defined]
    return rows


def _job_url(job: Any) -> str | None:
    if hasattr(job, "get_absolute_url"):
        return str(job.get_absolute_url())
    try:
        return reverse("media_jobs:detail", args=[job.pk])
    except NoReverseMatch:
        return None


def _content_url(record: UsageRecord, admin: bool, readable: dict[str, set[Any]]) -> str | None:
    if admin and (record.message_id or record.job_id):
        return reverse("usage:record", args=[record.pk])
    conversation = record.conversation
    if record.message_id and conversation and conversation.pk in readable["conversation"]:
        return f"{conversation.get_absolute_url()}#message-{record.message_id}"
    if record.job and record.job_id in readable["job"]:
        return _job_url(record.job)
    return None


def _with_note_links(notes: list[Any], user: User) -> list[Any]:
    """Each note with the link its reply may be opened by, as for its charges: a site
    admin's through the reply's charge (audited), an owner's only into a conversation they
    may read."""
    admin = is_site_admin(user)
    ids = {note.message.conversation_id for note in notes}
    readable = set() if admin or not ids else _readable("conversation", user, ids)
    for note in notes:
        conversation = note.message.conversation
        if admin:
            url = reverse("usage:record", args=[note.record_id]) if note.record_id else None
        elif conversation.pk in readable:
            url = f"{conversation.get_absolute_url()}#message-{note.message_id}"
        else:
            url = None
        note.content_url = url
    return notes


def _drill(query: QueryDict, **changes: Any) -> str:
    """The usage page's address with these filters changed, the others kept."""
    params = query.copy()
    for key, value in changes.items():
        params[key] = str(value)
    return f"{reverse('usage:overview')}?{params.urlencode()}"


def _add_links(context: dict[str, Any], query: QueryDict) -> None:
    kinds = dict(UsageRecord.Kind.choices)
    for key, field, name, rows in (
        ("team_id", "team", "team__name", context["by_team"]),
        ("user_id", "user", "user__username", context["by_member"]),
        ("model", "model", "model", context["by_model"]),
        ("kind", "kind", "kind", context["by_kind"]),
    ):
        for row in rows:
            row["url"] = _drill(query, **{field: row[key]}) if row[key] is not None else None
            row["name"] = kinds.get(row[name], row[name]) if field == "kind" else row[name]
    for charge in context["records"]:
        charge.conversation_url = (
            _drill(query, conversation=charge.conversation_id) if charge.conversation_id else None
        )


@login_required
@require_GET
def overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, teams = _filter_form(request)
    records = _records(form, teams)
    start, end = form.dates()
    daily = _daily(records, start, end, request.GET)
    total = records.aggregate(
        cost_sum=Sum("cost"),
        reserved_sum=Sum("reserved", filter=Q(status=UsageRecord.Status.RESERVED)),
        tokens=Sum(TOKENS),
        calls=Count("pk"),
        defaulted=Count("pk", filter=Q(default_price=True)),
    )
    month = services.current_month()
    shown_teams = teams.filter(pk=form.cleaned_data["team"].pk) if _team_filter(form) else teams
    spend = services.month_spend(shown_teams, month)
    admin = is_site_admin(request.user)
    context = {
        "form": form,
        "start": start,
        "end": end,
        "daily": daily,
        "cost_bars": _chart(daily, "cost"),
        "token_bars": _chart(daily, "tokens"),
        "chart_width": charts.WIDTH,
        "chart_height": charts.HEIGHT,
        "total": total,
        "by_team": _totals(records, "team_id", "team__name"),
        "by_member": _totals(records, "user_id", "user__username"),
        "by_model": _totals(records, "model"),
        "by_kind": _totals(records, "kind"),
        "records": _shown(records, request.user),
        "records_shown": RECORDS_SHOWN,
        "query": request.GET.urlencode(),
        "is_site_admin": admin,
        "currency": settings.USAGE_CURRENCY,
        "month": month,
        "month_rows": [
            (team, spend.get(team.pk, services.Spend()))
            for team in shown_teams
            if team.pk in spend or _team_filter(form)
        ],
    }
    ratings = feedback.ratings(getattr(form, "cleaned_data", {}), teams, start, end)
    context["feedback_counts"] = feedback.per_model(ratings)
    context["feedback_notes"] = _with_note_links(feedback.latest_notes(ratings), request.user)
    if admin:
        context["default_zero"] = services.default_price_warning()
        context["unpriced"] = services.unpriced_models(list_chat_models())
    _add_links(context, request.GET)
    return render(request, "usage/overview.html", context)


def _team_filter(form: UsageFilterForm) -> bool:
    return bool(getattr(form, "cleaned_data", {}).get("team"))


@login_required
@require_POST
def import_prices(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Site admins: import the gateway's published prices (prices set by hand are kept)."""
    _require_site_admin(request)
    try:
        result = import_from_gateway()
    except GatewayError as exc:
        messages.error(request, exc.user_message)
    else:
        if result is None:
            messages.warning(request, _("The gateway does not publish prices."))
        else:
            counts = {"created": result.created, "updated": result.updated}
            text = _(
                "Imported prices: %(created)d new, %(updated)d updated, %(kept)d set by hand kept."
            )
            messages.success(request, text % {**counts, "kept": result.kept_manual})
    return redirect("usage:overview")


CSV_HEADER = [
    "time",
    "team",
    "user",
    "kind",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "estimated",
    "default_price",
    "status",
    "cost",
    "conversation",
    "message",
    "job",
]


def _csv_rows(records: QuerySet[UsageRecord]) -> Iterator[str]:
    writer = spreadsheet.writer()
    yield writer.writerow(CSV_HEADER)
    rows = records.order_by("created_at", "pk").values_list(
        "created_at",
        "team__name",
        "user__username",
        "kind",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "estimated",
        "default_price",
        "status",
        "cost",
        "conversation_id",
        "message_id",
        "job_id",
    )
    for row in rows.iterator(chunk_size=500):
        yield writer.writerow(["" if v is None else v for v in row])


@login_required
@require_GET
def export_csv(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    form, teams = _filter_form(request)
    start, end = form.dates()
    response = StreamingHttpResponse(
        _csv_rows(_records(form, teams)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="usage-{start}-{end}.csv"'
    return response


def _require_site_admin(request: HttpRequest) -> None:
    if not is_site_admin(request.user):
        raise Http404


@login_required
@require_GET
def record(request: AuthenticatedHttpRequest, record_id: int) -> HttpResponse:
    """A charge with the content it paid for, read-only, for site admins; each visit to
    someone else's content goes into the audit log."""
    _require_site_admin(request)
    queryset = UsageRecord.objects.select_related(
        "team",
        "user",
        "conversation",
        "conversation__created_by",
        "message",
        "job",
        "job__created_by",
    )
    charge = queryset.filter(pk=access.clean_id(UsageRecord, record_id)).first()
    if charge is None:
        raise Http404
    if charge.message is not None:
        owner = charge.conversation.created_by if charge.conversation else charge.user
        target = f"message {charge.message_id} in conversation {charge.conversation_id}"
        log_view(request, action="view message", target=target, owner=owner)
    elif charge.job is not None:
        log_view(
            request, action="view job", target=f"job {charge.job_id}", owner=charge.job.created_by
        )
    return render(request, "usage/record.html", {"record": charge})


@login_required
@require_GET
def audit_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_site_admin(request)
    entries = AuditEntry.objects.select_related("actor", "owner")[:500]
    return render(request, "usage/audit.html", {"entries": entries})
