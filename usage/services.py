"""Charging gateway calls: reserve before, settle or refund after, and the budget state.

Each counter (the team's month, the member's month) moves with ONE conditional UPDATE whose
WHERE clause holds the budget rule, so two processes can never both take the last of a budget:
the database serialises the UPDATEs and the second one matches no row. No read-modify-write.

Call these inside the caller's transaction (begin_reply, create_job): a refusal raises
chat.billing.BudgetRefused and the caller's transaction rolls back, so nothing is saved.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.constants import OnConflict
from django.db.models.sql.subqueries import InsertQuery
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team
from chat.billing import BudgetRefused
from usage.models import (
    ZERO,
    MemberMonth,
    Price,
    TeamBudget,
    TeamMonth,
    UsageRecord,
    month_of,
)

PLACES = Decimal("0.000001")
# Amounts have six decimal places, so on PostgreSQL (exact numeric) half a unit changes no
# comparison; on SQLite (floating point) it absorbs rounding in sums such as 10 * 0.1.
SLACK = Decimal("0.0000005")
# Estimating tokens without a tokenizer: about four characters per token (OpenAI's rule of
# thumb for English), at least one token per message.
CHARS_PER_TOKEN = 4
# What a chat reply is assumed to write before the gateway says: reserved up front.
ASSUMED_COMPLETION_TOKENS = 1000
WARN_AT = Decimal("0.8")
MAX_TOKENS = 2_000_000_000  # PositiveIntegerField's range on every database


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(PLACES, rounding=ROUND_HALF_UP)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(max(1, estimate_tokens(m.get("content") or "")) for m in messages)


def current_month() -> datetime.date:
    return month_of(timezone.localtime(timezone.now()))


# The lookups every reply makes on the one database thread (price and budget at its start,
# its record and price at its end) are Model.objects.raw(): the same rows and model instances
# (Django's converters: exact Decimals, decoded JSON) without compiling a QuerySet each time,
# which cost about twice what running the query did (benchmarks/reserve_cost.py).
_PRICES = f'SELECT * FROM "{Price._meta.db_table}" WHERE "model" IN (%s, %s)'  # noqa: S608
_BUDGET = f'SELECT * FROM "{TeamBudget._meta.db_table}" WHERE "team_id" = %s'  # noqa: S608
_PENDING_REPLY = (
    f'SELECT * FROM "{UsageRecord._meta.db_table}" '  # noqa: S608
    'WHERE "status" = %s AND "message_id" = %s LIMIT 1'
)


def price_for(model: str) -> tuple[Price, bool]:
    """The model's price and whether it is the site default ("*"; zero if there is none)."""
    prices = {p.model: p for p in Price.objects.raw(_PRICES, [model, Price.DEFAULT])}
    if model in prices:
        return prices[model], False
    return prices.get(Price.DEFAULT) or Price(model=Price.DEFAULT), True


def token_cost(price: Price, prompt_tokens: int, completion_tokens: int) -> Decimal:
    cost = prompt_tokens * price.prompt_per_1k + completion_tokens * price.completion_per_1k
    return money(Decimal(cost) / 1000)


def action_cost(price: Price, *, images: int = 0, audio_seconds: int = 0) -> Decimal:
    cost = price.per_action + images * price.per_image + audio_seconds * price.per_audio_second
    return money(cost)


# Counters


def team_budget(team: Any) -> TeamBudget | None:
    return next(iter(TeamBudget.objects.raw(_BUDGET, [team.pk])), None)  # one per team


def _fits(limit: Decimal | None, used: Decimal, amount: Decimal) -> bool:
    """The budget rule, in Python: no limit, or not yet at the limit and used + amount within
    it (so a limit of 0 refuses even a free call). `_room_for` is the same rule in SQL."""
    if limit is None:
        return True
    if amount > 2 * SLACK:
        return limit >= used + (amount - SLACK)
    return limit > used + SLACK


def _room_for(amount: Decimal) -> tuple[str, Decimal]:
    """The rule of `_fits` on a counter's row, as SQL and its parameter. "limit > used + SLACK
    and limit >= used + amount - SLACK" is one comparison: with amount above 2 * SLACK the
    second implies the first, at or below it the first implies the second, so the bound is
    computed here and the database adds two columns and a constant."""
    if amount > 2 * SLACK:
        op, bound = ">=", amount - SLACK
    else:
        op, bound = ">", SLACK
    return f'("limit" IS NULL OR "limit" {op} "spent" + "reserved" + %s)', bound


Counter = type[TeamMonth] | type[MemberMonth]


def _update(
    model: type[models.Model],
    key: dict[str, Any],
    change: str,
    params: list[Any],
    where: str = "",
    where_params: tuple[Any, ...] = (),
) -> int:
    """UPDATE the row `key` names (a counter's unique columns, a record's pk and status): SET
    `change` (with `params`) WHERE the key [AND `where` (with `where_params`)]; the number of
    rows changed.

    Plain SQL, not QuerySet.update(): this runs per call on the one database thread, and
    compiling the same statement through the ORM cost more CPU than running it (see
    benchmarks/reserve_cost.py). Amounts are Decimal parameters (numeric on PostgreSQL: exact;
    on SQLite numbers, as the ORM's CASTs make them). `change` and `where` are built in this
    module from constants and field names; no caller's text is spliced.
    """
    connection = connections[router.db_for_write(model)]
    columns, values = [], []
    for name, value in key.items():
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)  # a column, not a reverse relation
        columns.append(f"{connection.ops.quote_name(str(field.column))} = %s")
        values.append(field.get_db_prep_value(value, connection))
    sql = (
        f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {change} "  # noqa: S608
        f"WHERE {' AND '.join(columns)}{f' AND {where}' if where else ''}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *values, *where_params])
        return cursor.rowcount


def _take(model: Counter, key: dict[str, Any], amount: Decimal) -> bool:
    """reserved += amount on the counter if its limit leaves room: one conditional UPDATE, so
    two processes can never both take the last of a budget."""
    room, bound = _room_for(amount)
    change = '"reserved" = "reserved" + %s'
    return _update(model, key, change, [amount], room, (bound,)) == 1


def _make(row: models.Model) -> bool:
    """INSERT `row` unless a row with its unique key exists (INSERT ... ON CONFLICT DO NOTHING,
    INSERT OR IGNORE on SQLite, as bulk_create(ignore_conflicts=True) writes it); True if this
    INSERT made it. Under a concurrent INSERT of the same key the database waits for the
    other transaction, then does nothing if it committed."""
    model = type(row)
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values([f for f in model._meta.local_concrete_fields if not f.primary_key], [row])
    using = router.db_for_write(model)
    made = 0
    with connections[using].cursor() as cursor:
        for sql, params in query.get_compiler(using=using).as_sql():
            cursor.execute(sql, params)
            made += cursor.rowcount
    return made == 1


def _take_or_make(new_row: TeamMonth | MemberMonth, key: dict[str, Any], amount: Decimal) -> bool:
    """Take `amount` from the month's counter, making the counter first if this is the month's
    first call. Most calls find it made: one UPDATE. Otherwise, if a new counter (nothing used,
    the budget's limit) has room, it is made with `amount` already reserved: one INSERT ...
    ON CONFLICT DO NOTHING. A conflict means the counter exists (it had no room, or another
    process made it since the UPDATE): the take is tried again on it. If a new counter would
    have no room, the call is refused with no more queries (the old counter had none either,
    or the UPDATE would have taken it)."""
    model = type(new_row)
    if _take(model, key, amount):
        return True
    if not _fits(new_row.limit, ZERO, amount):
        return False
    new_row.reserved = amount
    return _make(new_row) or _take(model, key, amount)


def check_model(budget: TeamBudget | None, role: str, model: str) -> None:
    if budget is not None and not budget.allows(role, model):
        raise BudgetRefused(
            _("The model %(model)s is not allowed for your role in this team.") % {"model": model},
            code="model_not_allowed",
        )


def reserve(
    *,
    team: Any,
    user: Any,
    role: str,
    kind: str,
    model: str,
    amount: Decimal,
    default_price: bool = False,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    conversation: Any = None,
    message: Any = None,
    job: Any = None,
) -> UsageRecord:
    """Reserve `amount` on the team's and the member's month and record the charge; raise
    BudgetRefused (nothing changed) when the role may not use the model or a limit is reached."""
    amount = money(amount)
    budget = team_budget(team)
    check_model(budget, role, model)
    month = current_month()
    with transaction.atomic():
        key = {"team_id": team.pk, "month": month}
        team_row = TeamMonth(team=team, month=month, limit=budget.monthly_limit if budget else None)
        if not _take_or_make(team_row, key, amount):
            raise BudgetRefused(
                _("Your team's monthly budget is used up. Ask a team owner to raise the budget.")
            )
        cap = budget.member_monthly_cap if budget else None
        member_row = MemberMonth(team=team, user=user, month=month, limit=cap)
        if not _take_or_make(member_row, {**key, "user_id": user.pk}, amount):
            raise BudgetRefused(
                _("You have reached your monthly budget in this team. Ask a team owner.")
            )
        return UsageRecord.objects.create(
            team=team,
            user=user,
            kind=kind,
            model=model,
            month=month,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            estimated=True,
            default_price=default_price,
            reserved=amount,
            status=UsageRecord.Status.RESERVED,
            conversation=conversation,
            message=message,
            job=job,
        )


def _release(record: UsageRecord, *, spent: Decimal) -> None:
    """Move the record's reservation off both counters, adding `spent` to what was spent."""
    change = '"reserved" = "reserved" - %s, "spent" = "spent" + %s'
    key = {"team_id": record.team_id, "month": record.month}
    _update(TeamMonth, key, change, [record.reserved, spent])
    _update(MemberMonth, {**key, "user_id": record.user_id}, change, [record.reserved, spent])


def settle(
    record: UsageRecord,
    *,
    cost: Decimal,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    estimated: bool = True,
) -> bool:
    """Charge the real cost in place of the reservation; False if the record was already
    settled or refunded (each record is settled or refunded once)."""
    cost = money(cost)
    fields: dict[str, Any] = {
        "status": UsageRecord.Status.SETTLED,
        "cost": cost,
        "estimated": estimated,
        "settled_at": timezone.now(),
    }
    if prompt_tokens is not None:
        fields["prompt_tokens"] = _clamp_tokens(prompt_tokens)
    if completion_tokens is not None:
        fields["completion_tokens"] = _clamp_tokens(completion_tokens)
    with transaction.atomic():
        if not _close(record, fields):
            return False
        _release(record, spent=cost)
    for name, value in fields.items():  # what the UPDATE wrote, without reading it back
        setattr(record, name, value)
    return True


def _close(record: UsageRecord, fields: dict[str, Any]) -> bool:
    """Write `fields` to the record if it is still reserved (one conditional UPDATE, so each
    record is settled or refunded once); True if this call did."""
    connection = connections[router.db_for_write(UsageRecord)]
    change, params = [], []
    for name, value in fields.items():
        field = UsageRecord._meta.get_field(name)
        assert isinstance(field, models.Field)
        change.append(f"{connection.ops.quote_name(str(field.column))} = %s")
        params.append(field.get_db_prep_save(value, connection))
    key = {"id": record.pk, "status": UsageRecord.Status.RESERVED}
    return _update(UsageRecord, key, ", ".join(change), params) == 1


def _clamp_tokens(count: int) -> int:
    """Counts the gateway reports are hostile input: kept within the column's range."""
    return min(max(0, int(count)), MAX_TOKENS)


def refund(record: UsageRecord) -> bool:
    """Give the reservation back; False if the record was already settled or refunded."""
    fields = {"status": UsageRecord.Status.REFUNDED, "cost": ZERO, "settled_at": timezone.now()}
    with transaction.atomic():
        if not _close(record, fields):
            return False
        _release(record, spent=ZERO)
    for name, value in fields.items():
        setattr(record, name, value)
    return True


def apply_budget(budget: TeamBudget) -> None:
    """Copy a changed budget into this month's counters (later months copy it when made)."""
    month = current_month()
    TeamMonth.objects.filter(team_id=budget.team_id, month=month).update(limit=budget.monthly_limit)
    MemberMonth.objects.filter(team_id=budget.team_id, month=month).update(
        limit=budget.member_monthly_cap
    )


# Chat and media


def reserve_chat(
    *,
    team: Any,
    user: Any,
    role: str,
    model: str,
    messages: list[dict[str, str]],
    conversation: Any = None,
    message: Any = None,
) -> UsageRecord:
    """Reserve a chat reply: the prompt estimated from its text plus an assumed completion."""
    price, default = price_for(model)
    prompt = estimate_prompt_tokens(messages)
    return reserve(
        team=team,
        user=user,
        role=role,
        kind=UsageRecord.Kind.CHAT,
        model=model,
        amount=token_cost(price, prompt, ASSUMED_COMPLETION_TOKENS),
        default_price=default,
        prompt_tokens=prompt,
        conversation=conversation,
        message=message,
    )


def settle_chat(record: UsageRecord, *, usage: Any | None, content: str) -> bool:
    """Settle with the gateway's reported counts, or else estimate the completion from the
    text written (and keep the prompt's estimate) and mark the record estimated."""
    price, _default = price_for(record.model)
    reported = usage is not None and usage.prompt_tokens is not None
    if usage is not None and reported:
        prompt = int(usage.prompt_tokens)
        completion = int(usage.completion_tokens or 0)
    else:
        prompt = record.prompt_tokens
        completion = estimate_tokens(content)
    return settle(
        record,
        cost=token_cost(price, prompt, completion),
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated=not reported,
    )


def pending_record(**link: Any) -> UsageRecord | None:
    """The newest record still reserved for `link` (a job re-queued may have had several)."""
    return UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED, **link).first()


def pending_reply_record(message_id: int) -> UsageRecord | None:
    """The reply's record while it is reserved. A reply has one record (begin_reply reserves
    once, for the assistant message it has just made), so any one found is it."""
    rows = UsageRecord.objects.raw(_PENDING_REPLY, [UsageRecord.Status.RESERVED, message_id])
    return next(iter(rows), None)


# The 80 % warning


@dataclass(frozen=True)
class BudgetState:
    level: str  # "none", "warn" (80 % or more used) or "over" (nothing more can be spent)
    team_used: Decimal
    team_limit: Decimal | None
    member_used: Decimal
    member_limit: Decimal | None

    @property
    def percent(self) -> int:
        """The larger share of a limit used, in percent (0 without limits)."""
        shares = [
            used / limit * 100 if limit else Decimal(100)
            for used, limit in (
                (self.team_used, self.team_limit),
                (self.member_used, self.member_limit),
            )
            if limit is not None
        ]
        return int(max(shares, default=0))


def _level(used: Decimal, limit: Decimal | None) -> int:
    if limit is None:
        return 0
    if used >= limit:
        return 2
    return 1 if used >= limit * WARN_AT else 0


def budget_state(team: Any, user: Any) -> BudgetState:
    """How much of this month's team budget and member cap is used (spent + reserved): one
    query, as it runs on every page. A month without counters yet takes the TeamBudget's
    limits, as the counters will when they are made."""
    month = current_month()
    team_month = TeamMonth.objects.filter(team=OuterRef("pk"), month=month)
    member_month = MemberMonth.objects.filter(team=OuterRef("pk"), user=user, month=month)
    fields = ("pk", "limit", "spent", "reserved")
    row = (
        Team.objects.filter(pk=team.pk)
        .annotate(
            **{f"t_{name}": Subquery(team_month.values(name)[:1]) for name in fields},
            **{f"m_{name}": Subquery(member_month.values(name)[:1]) for name in fields},
        )
        .values(
            "budget__monthly_limit",
            "budget__member_monthly_cap",
            *(f"{p}_{n}" for p in "tm" for n in fields),
        )
        .first()
    )
    if row is None:
        return BudgetState("none", ZERO, None, ZERO, None)
    has_team, has_member = row["t_pk"] is not None, row["m_pk"] is not None
    team_limit = row["t_limit"] if has_team else row["budget__monthly_limit"]
    member_limit = row["m_limit"] if has_member else row["budget__member_monthly_cap"]
    team_used = (row["t_spent"] or ZERO) + (row["t_reserved"] or ZERO)
    member_used = (row["m_spent"] or ZERO) + (row["m_reserved"] or ZERO)
    level = max(_level(team_used, team_limit), _level(member_used, member_limit))
    return BudgetState(
        level=("none", "warn", "over")[level],
        team_used=team_used,
        team_limit=team_limit,
        member_used=member_used,
        member_limit=member_limit,
    )


def member_spend(team: Any, month: datetime.date) -> dict[int, Decimal]:
    """Each member's spend (settled and in flight) in `month`: one query."""
    rows = MemberMonth.objects.filter(team=team, month=month).values_list(
        "user_id", "spent", "reserved"
    )
    return {user_id: spent + reserved for user_id, spent, reserved in rows}


# --- provisional (jobs branch) ----------------------------------------------------------
# Minimal versions of the money helper's generic API, so media_jobs can charge through it
# before that branch lands; the merge keeps the money helper's and drops this block.

_CLOSERS: dict[str, Callable[[UsageRecord], bool]] = {}


@dataclass(frozen=True)
class Quote:
    amount: Decimal
    default_price: bool
    model: str


def quote(
    model: str,
    *,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    calls: int = 0,
    images: int = 0,
    size: str = "",
    quality: str = "",
    audio_seconds: int = 0,
    characters: int = 0,
) -> Quote:
    """What a call to `model` costs at the price table (the "*" price if it has none)."""
    price, default = price_for(model)
    amount = token_cost(price, prompt_tokens, completion_tokens) + money(
        calls * price.per_action + images * price.per_image + audio_seconds * price.per_audio_second
    )
    return Quote(amount=money(amount), default_price=default, model=model)


def register_closer(link: str, closer: Callable[[UsageRecord], bool]) -> None:
    """`closer` settles or refunds a reserved record linked through `link` (a UsageRecord
    foreign key: "job", "message") whose call has ended; it returns False if it has not."""
    _CLOSERS[link] = closer


def sweep_reservations(*, older_than: datetime.timedelta = datetime.timedelta(minutes=2)) -> int:
    """Hand every reservation older than `older_than` to its link's closer; how many closed."""
    cutoff = timezone.now() - older_than
    closed = 0
    for link, closer in list(_CLOSERS.items()):
        stale = UsageRecord.objects.filter(
            status=UsageRecord.Status.RESERVED, created_at__lt=cutoff, **{f"{link}__isnull": False}
        )
        for record in stale.order_by("pk")[:500]:
            closed += bool(closer(record))
    return closed
