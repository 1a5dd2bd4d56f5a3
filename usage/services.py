"""The one money path: price a call (`quote`), reserve before it, settle or refund after,
sweep what was left reserved, correct by a new record, and report the spend.

Each counter (the team's month, the member's month) moves with ONE conditional UPDATE whose
WHERE clause holds the budget rule, so two processes can never both take the last of a budget:
the database serialises the UPDATEs and the second one matches no row. No read-modify-write.

Call these inside the caller's transaction (begin_reply, create_job, the transition that
ends a reply or a job): a refusal raises BudgetRefused and the caller's transaction rolls
back, so nothing is saved; a state change and its charge commit together.

usage imports no app that charges through it (chat, media_jobs): they call in, and the
sweep reaches them through the closers they register (`register_closer`).
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.constants import OnConflict
from django.db.models.sql.subqueries import InsertQuery
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team
from usage.errors import BudgetRefused
from usage.models import (
    ZERO,
    MemberMonth,
    Price,
    TeamBudget,
    TeamMonth,
    UsageRecord,
    month_of,
)

__all__ = ["BudgetRefused"]  # re-exported: callers catch usage.services.BudgetRefused

logger = logging.getLogger(__name__)

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
# Counts reported by the gateway are hostile input: clamped here too, whoever passes them
# (gateway.types.MAX_TOKEN_COUNT is the same bound; usage does not depend on it being applied).
MAX_TOKENS = 10_000_000
# The most one call is charged: an amount column (numeric(14, 6)) holds below 10**8, and a
# counter adds charges up, so one absurd price times an absurd count must not fill it.
MAX_CHARGE = Decimal(1_000_000)


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(PLACES, rounding=ROUND_HALF_UP)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


# What one attached image counts for in an estimate: OpenAI's high detail at the size Parlor
# sends (2,000 x 768 px: 85 + 170 per 512 px tile) is 1,105 tokens.
IMAGE_TOKENS = 1105


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(max(1, _content_tokens(m.get("content") or "")) for m in messages)


def _content_tokens(content: Any) -> int:
    """A message's content: text, or content parts (text and images)."""
    if isinstance(content, str):
        return estimate_tokens(content)
    if not isinstance(content, list):
        return 0
    return sum(
        IMAGE_TOKENS if part.get("type") == "image_url" else estimate_tokens(part.get("text") or "")
        for part in content
        if isinstance(part, dict)
    )


def current_month() -> datetime.date:
    return month_of(timezone.localtime(timezone.now()))


# The lookups every reply makes on the one database thread (price and budget at its start,
# its record and price at its end) are Model.objects.raw(): the same rows and model instances
# (Django's converters: exact Decimals, decoded JSON) without compiling a QuerySet each time,
# which cost about twice what running the query did (benchmarks/reserve_cost.py).
_PRICES = f'SELECT * FROM "{Price._meta.db_table}" WHERE "model" IN (%s, %s)'  # noqa: S608
_BUDGET = f'SELECT * FROM "{TeamBudget._meta.db_table}" WHERE "team_id" = %s'  # noqa: S608
# The budget with what its month's counters have used: one query where a reply starts.
_BUDGET_AND_USED = (
    f'SELECT b.*, t."id" AS t_id, t."limit" AS t_limit, t."spent" AS t_spent, '  # noqa: S608
    't."reserved" AS t_reserved, m."id" AS m_id, m."limit" AS m_limit, m."spent" AS m_spent, '
    f'm."reserved" AS m_reserved FROM "{TeamBudget._meta.db_table}" b '
    f'LEFT JOIN "{TeamMonth._meta.db_table}" t ON t."team_id" = b."team_id" AND t."month" = %s '
    f'LEFT JOIN "{MemberMonth._meta.db_table}" m ON m."team_id" = b."team_id" '
    'AND m."user_id" = %s AND m."month" = %s WHERE b."team_id" = %s'
)
_PENDING_REPLY = (
    f'SELECT * FROM "{UsageRecord._meta.db_table}" '  # noqa: S608
    'WHERE "status" = %s AND "message_id" = %s LIMIT 1'
)


def price_for(model: str) -> tuple[Price, bool]:
    """The model's price and whether it is the site default ("*"). Without a "*" row the
    installed default amounts are charged (Price.site_default): never zero by accident."""
    prices = {p.model: p for p in Price.objects.raw(_PRICES, [model, Price.DEFAULT])}
    return _price_in(prices, model)


def _price_in(prices: dict[str, Price], model: str) -> tuple[Price, bool]:
    """price_for's choice among prices read already (`model`'s and the site default's)."""
    if model in prices:
        return prices[model], False
    return prices.get(Price.DEFAULT) or Price.site_default(), True


# What the gateway bills per image size and quality, relative to the model's price per image
# (docs/gateway-api.md, "Images"): unknown sizes count as 1024x1024.
IMAGE_SIZE_RATIO = {
    "256x256": Decimal("0.4"),
    "512x512": Decimal("0.45"),
    "1024x1024": Decimal(1),
    "1792x1024": Decimal(2),
    "1024x1792": Decimal(2),
}
HD_RATIO = Decimal(2)
HD_RATIO_WIDE = Decimal("1.5")  # hd on the wide and tall sizes
WIDE_SIZES = frozenset({"1792x1024", "1024x1792"})


def image_ratio(size: str, quality: str) -> Decimal:
    size = (size or "").strip().lower()
    ratio = IMAGE_SIZE_RATIO.get(size, Decimal(1))
    if (quality or "").strip().lower() == "hd":
        ratio *= HD_RATIO_WIDE if size in WIDE_SIZES else HD_RATIO
    return ratio


@dataclass(frozen=True)
class Quote:
    """What a call costs: `amount` at `model`'s price, or at the site default's
    (`default_price`) when the model has none of its own."""

    amount: Decimal
    default_price: bool
    model: str


def price_amount(
    price: Price,
    *,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    calls: int = 0,
    images: int = 0,
    size: str = "",
    quality: str = "",
    audio_seconds: float = 0,
    characters: int = 0,
) -> Decimal:
    """The amount of a call at `price`: tokens per 1K, calls (actions) each, images each
    times the size and quality ratios, seconds of audio, characters per 1K."""
    tokens = prompt_tokens * price.prompt_per_1k + completion_tokens * price.completion_per_1k
    cost = (
        Decimal(tokens) / 1000
        + calls * price.per_action
        + images * price.per_image * image_ratio(size, quality)
        + Decimal(str(audio_seconds)) * price.per_audio_second
        + Decimal(characters) * price.per_1k_characters / 1000
    )
    return money(cost)


def quote(
    model: str,
    *,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    calls: int = 0,
    images: int = 0,
    size: str = "",
    quality: str = "",
    audio_seconds: float = 0,
    characters: int = 0,
) -> Quote:
    """The one price lookup: what a call of `model` costs (one query). Every charge is
    priced here: chat replies, media jobs, images, audio, embeddings."""
    price, default = price_for(model)
    amount = price_amount(
        price,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        calls=calls,
        images=images,
        size=size,
        quality=quality,
        audio_seconds=audio_seconds,
        characters=characters,
    )
    return Quote(amount=amount, default_price=default, model=model)


def token_cost(price: Price, prompt_tokens: int, completion_tokens: int) -> Decimal:
    return price_amount(price, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def action_cost(price: Price, *, images: int = 0, audio_seconds: int = 0) -> Decimal:
    return price_amount(price, calls=1, images=images, audio_seconds=audio_seconds)


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
    budget = team_budget(team)
    check_model(budget, role, model)
    return _reserve(
        budget,
        current_month(),
        team=team,
        user=user,
        kind=kind,
        model=model,
        amount=amount,
        default_price=default_price,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        conversation=conversation,
        message=message,
        job=job,
    )


def _team_used_up() -> BudgetRefused:
    return BudgetRefused(
        _("Your team's monthly budget is used up. Ask a team owner to raise the budget.")
    )


def _member_used_up() -> BudgetRefused:
    return BudgetRefused(_("You have reached your monthly budget in this team. Ask a team owner."))


def _reserve(
    budget: TeamBudget | None,
    month: datetime.date,
    *,
    team: Any,
    user: Any,
    kind: str,
    model: str,
    amount: Decimal,
    default_price: bool,
    prompt_tokens: int,
    completion_tokens: int,
    conversation: Any,
    message: Any,
    job: Any,
) -> UsageRecord:
    """reserve() once the budget is read and the model allowed."""
    amount = money(amount)
    with transaction.atomic():
        key = {"team_id": team.pk, "month": month}
        team_row = TeamMonth(team=team, month=month, limit=budget.monthly_limit if budget else None)
        if not _take_or_make(team_row, key, amount):
            raise _team_used_up()
        cap = budget.member_monthly_cap if budget else None
        member_row = MemberMonth(team=team, user=user, month=month, limit=cap)
        if not _take_or_make(member_row, {**key, "user_id": user.pk}, amount):
            raise _member_used_up()
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
    fields = _settled(record, cost, prompt_tokens, completion_tokens, estimated)
    with transaction.atomic():
        if not _close(record, fields):
            return False
        _release(record, spent=fields["cost"])
    _wrote(record, fields)
    return True


def _settled(
    record: UsageRecord,
    cost: Decimal,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    estimated: bool,
) -> dict[str, Any]:
    """The fields settle writes to a record: the cost (clamped to MAX_CHARGE) and counts."""
    cost = money(cost)
    if cost > MAX_CHARGE:
        logger.warning("Usage record %s: a charge of %s clamped to %s", record.pk, cost, MAX_CHARGE)
        cost = MAX_CHARGE
    fields: dict[str, Any] = {
        "status": UsageRecord.Status.SETTLED,
        "cost": cost,
        "estimated": estimated,
        "settled_at": timezone.now(),
    }
    if (prompt := clamp_tokens(prompt_tokens)) is not None:
        fields["prompt_tokens"] = prompt
    if (completion := clamp_tokens(completion_tokens)) is not None:
        fields["completion_tokens"] = completion
    return fields


def _refunded() -> dict[str, Any]:
    """The fields refund writes to a record."""
    return {"status": UsageRecord.Status.REFUNDED, "cost": ZERO, "settled_at": timezone.now()}


def _wrote(record: UsageRecord, fields: dict[str, Any]) -> None:
    """Keep on the instance what the UPDATE wrote, without reading it back."""
    for name, value in fields.items():
        setattr(record, name, value)


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


def clamp_tokens(count: Any) -> int | None:
    """A token count within 0..MAX_TOKENS; None (unknown) for anything that is not a number
    (a string, NaN, infinity, true/false)."""
    if isinstance(count, bool) or not isinstance(count, int | float | Decimal):
        return None
    try:
        return min(max(0, int(count)), MAX_TOKENS)
    except (ValueError, OverflowError, ArithmeticError):  # NaN, infinity
        return None


def refund(record: UsageRecord) -> bool:
    """Give the reservation back; False if the record was already settled or refunded."""
    fields = _refunded()
    with transaction.atomic():
        if not _close(record, fields):
            return False
        _release(record, spent=ZERO)
    _wrote(record, fields)
    return True


def apply_budget(budget: TeamBudget) -> None:
    """Copy a changed budget into this month's counters (later months copy it when made)."""
    month = current_month()
    TeamMonth.objects.filter(team_id=budget.team_id, month=month).update(limit=budget.monthly_limit)
    MemberMonth.objects.filter(team_id=budget.team_id, month=month).update(
        limit=budget.member_monthly_cap
    )


# Chat replies


def reserve_chat(
    *,
    team: Any,
    user: Any,
    role: str,
    model: str,
    messages: list[dict[str, Any]],
    conversation: Any = None,
    message: Any = None,
) -> UsageRecord:
    """Reserve a chat reply: the prompt estimated from its text plus an assumed completion
    (reserve_reply, without a max_tokens of its own)."""
    return reserve_reply(
        team=team,
        user=user,
        role=role,
        model=model,
        prompt_tokens=estimate_prompt_tokens(messages),
        max_tokens=None,
        conversation=conversation,
        message=message,
    ).record


# A chat reply is bounded only when the money left pays for fewer completion tokens than
# this: every current chat model may write at least this many, and a gateway refuses a
# max_tokens above the model's own limit, so a bound never asks for more than a model allows.
BOUND_BELOW_TOKENS = 4096


@dataclass(frozen=True)
class Reservation:
    """A reply's reserved record and the max_tokens to send upstream (None: the model's own
    limit, when no budget bounds it and the caller asked for none)."""

    record: UsageRecord
    max_tokens: int | None


def reserve_reply(
    *,
    team: Any,
    user: Any,
    role: str,
    model: str,
    prompt_tokens: int,
    max_tokens: int | None,
    conversation: Any = None,
    message: Any = None,
) -> Reservation:
    """Reserve a reply (a chat reply, a completion) of `prompt_tokens` and at most
    `max_tokens` completion tokens (None: the model's own limit, reserved as
    ASSUMED_COMPLETION_TOKENS). Under a team budget or member cap the reply may write only
    what the smaller of the money left pays for at the model's price: max_tokens is lowered
    to that (then all of it is reserved), and a reply that could not pay for one token is
    refused (BudgetRefused). Two queries before the reservation's: the price, and the budget
    with its counters."""
    price, default = price_for(model)
    month = current_month()
    budget, left = _budget_and_left(team, user, month)
    check_model(budget, role, model)
    max_tokens, amount = _reply_reservation(price, prompt_tokens, max_tokens, left)
    record = _reserve(
        budget,
        month,
        team=team,
        user=user,
        kind=UsageRecord.Kind.CHAT,
        model=model,
        amount=amount,
        default_price=default,
        prompt_tokens=prompt_tokens,
        completion_tokens=0,
        conversation=conversation,
        message=message,
        job=None,
    )
    return Reservation(record, max_tokens)


# Reservations of replies started together (chat.starts): the same rules as reserve_reply,
# in a number of statements that does not grow with the replies. Both steps run in the
# caller's one transaction: a `ReplyPlanner` reads (and on PostgreSQL locks) every counter the
# replies touch, making the month's missing ones, and decides each reply in order in Python,
# each seeing what the ones before it took; `record_replies` writes the records and adds each
# counter's share in one UPDATE per table. With the counters locked (SQLite: the transaction
# holds the one write lock) no other process can take from them in between, so the rule that
# `_take` checks in SQL holds here as checked in Python (`_fits`, the same rule).


@dataclass(frozen=True)
class ReplyCharge:
    """One reply to reserve for: what reserve_reply takes, less its links."""

    team: Any
    user: Any
    role: str
    model: str
    prompt_tokens: int


@dataclass
class PlannedReply:
    """A reply a `ReplyPlanner` found room for: its amount, the max_tokens to send, its price."""

    charge: ReplyCharge
    amount: Decimal
    max_tokens: int | None
    default_price: bool
    team_row: TeamMonth
    member_row: MemberMonth
    month: datetime.date


class ReplyPlanner:
    """Decides replies one at a time, in the order asked, each seeing what the ones before it
    took. Made with every reply that may be asked for: it reads their prices and budgets and
    reads (on PostgreSQL locks) their counters at once, making the month's missing ones; a
    reply planned later must be one of those (the same team, member and model)."""

    def __init__(self, charges: list[ReplyCharge]) -> None:
        self.month = current_month()
        models_ = {charge.model for charge in charges}
        self.prices = {
            p.model: p for p in Price.objects.filter(model__in=[*models_, Price.DEFAULT])
        }
        team_ids = {charge.team.pk for charge in charges}
        self.budgets = {b.team_id: b for b in TeamBudget.objects.filter(team_id__in=team_ids)}
        self.team_rows, self.member_rows = _counters(charges, self.budgets, self.month)

    def plan(self, charge: ReplyCharge) -> PlannedReply:
        """The reply's reservation, taken from the counters read; or BudgetRefused, as
        reserve_reply would raise it, with nothing taken."""
        team_row = self.team_rows[charge.team.pk]
        member_row = self.member_rows[charge.team.pk, charge.user.pk]
        return _plan(charge, self.prices, self.budgets, team_row, member_row, self.month)


def _plan(
    charge: ReplyCharge,
    prices: dict[str, Price],
    budgets: dict[int, TeamBudget],
    team_row: TeamMonth,
    member_row: MemberMonth,
    month: datetime.date,
) -> PlannedReply:
    """reserve_reply's decision for one reply on counters read already (their `reserved`
    counts the replies planned before it); takes its amount from them."""
    price, default = _price_in(prices, charge.model)
    budget = budgets.get(charge.team.pk)
    check_model(budget, charge.role, charge.model)
    left = (None, None) if budget is None else (_left_on(team_row), _left_on(member_row))
    max_tokens, amount = _reply_reservation(price, charge.prompt_tokens, None, left)
    amount = money(amount)  # as _reserve rounds it
    if not _fits(team_row.limit, team_row.spent + team_row.reserved, amount):
        raise _team_used_up()
    if not _fits(member_row.limit, member_row.spent + member_row.reserved, amount):
        raise _member_used_up()
    team_row.reserved += amount
    member_row.reserved += amount
    return PlannedReply(charge, amount, max_tokens, default, team_row, member_row, month)


def _left_on(row: TeamMonth | MemberMonth) -> Decimal | None:
    return None if row.limit is None else _decimal(row.limit) - row.spent - row.reserved


def _counters(
    charges: list[ReplyCharge], budgets: dict[int, TeamBudget], month: datetime.date
) -> tuple[dict[int, TeamMonth], dict[tuple[int, int], MemberMonth]]:
    """The month's counters of every team and member charged, locked where the database has
    row locks; the missing ones made first (nothing used, the budget's limits), as the first
    reservation of a month makes them.

    The teams' counters are made and locked before any member's is made: a batch that holds
    a team's counter and makes a member's must never wait for one that made that member's
    and waits for the team's (a deadlock PostgreSQL found in parallel first batches of a
    month). Rows are made and locked in key and id order."""
    team_ids = {charge.team.pk for charge in charges}
    pairs = {(charge.team.pk, charge.user.pk) for charge in charges}
    teams = _made_and_locked(
        TeamMonth.objects.filter(team_id__in=team_ids, month=month),
        lambda row: row.team_id,
        team_ids,
        lambda team_id: _new_team_row(team_id, budgets.get(team_id), month),
    )
    members = _made_and_locked(
        MemberMonth.objects.filter(
            team_id__in=team_ids, user_id__in={user for _team, user in pairs}, month=month
        ),
        lambda row: (row.team_id, row.user_id),
        pairs,
        lambda pair: _new_member_row(pair, budgets.get(pair[0]), month),
    )
    return teams, members


def _made_and_locked(
    rows: models.QuerySet[Any], key: Callable[[Any], Any], keys: set[Any], new: Callable[[Any], Any]
) -> dict[Any, Any]:
    """`rows` by `key`, locked in id order where the database has row locks; the `keys` not
    among them made first (INSERT ... ON CONFLICT DO NOTHING, in key order) and read again."""
    if connections[router.db_for_write(rows.model)].features.has_select_for_update:
        rows = rows.select_for_update().order_by("pk")
    found = {key(row): row for row in rows}
    missing = sorted(keys - found.keys())
    if not missing:
        return found
    rows.model.objects.bulk_create([new(k) for k in missing], ignore_conflicts=True)
    return {key(row): row for row in rows.all()}


def _new_team_row(team_id: int, budget: TeamBudget | None, month: datetime.date) -> TeamMonth:
    return TeamMonth(team_id=team_id, month=month, limit=budget.monthly_limit if budget else None)


def _new_member_row(
    pair: tuple[int, int], budget: TeamBudget | None, month: datetime.date
) -> MemberMonth:
    cap = budget.member_monthly_cap if budget else None
    return MemberMonth(team_id=pair[0], user_id=pair[1], month=month, limit=cap)


def record_replies(planned: list[PlannedReply], messages: list[Any]) -> list[Reservation]:
    """Write the planned reservations (one record per reply, for its message in `messages`,
    in order) and add them to their counters: three statements for any number of replies."""
    if not planned:
        return []
    records = UsageRecord.objects.bulk_create(
        [
            UsageRecord(
                team=plan.charge.team,
                user=plan.charge.user,
                kind=UsageRecord.Kind.CHAT,
                model=plan.charge.model,
                month=plan.month,
                prompt_tokens=plan.charge.prompt_tokens,
                completion_tokens=0,
                estimated=True,
                default_price=plan.default_price,
                reserved=plan.amount,
                status=UsageRecord.Status.RESERVED,
                conversation_id=message.conversation_id,
                message=message,
            )
            for plan, message in zip(planned, messages, strict=True)
        ]
    )
    _add_reserved(TeamMonth, [(plan.team_row.pk, plan.amount) for plan in planned])
    _add_reserved(MemberMonth, [(plan.member_row.pk, plan.amount) for plan in planned])
    return [Reservation(r, plan.max_tokens) for r, plan in zip(records, planned, strict=True)]


def _add_reserved(model: Counter, amounts: list[tuple[int, Decimal]]) -> None:
    """reserved += each row's total (rows by id), in one UPDATE: `_move` with the totals as
    negative releases and nothing spent."""
    totals: dict[tuple[Any, ...], Decimal] = {}
    for pk, amount in amounts:
        totals[(pk,)] = totals.get((pk,), ZERO) + amount
    _move(model, ("id",), {key: (-total, ZERO) for key, total in totals.items()})


Left = tuple[Decimal | None, Decimal | None]  # money left under the team's and member's limits


def _reply_reservation(
    price: Price, prompt_tokens: int, max_tokens: int | None, left: Left
) -> tuple[int | None, Decimal]:
    """A reply's max_tokens and the amount to reserve for it, with `left` the money left
    under the team's limit and the member's cap: where that bounds the reply, max_tokens is
    lowered to what it pays for; a reply that could not pay for one token is refused."""
    affordable = _affordable(price, prompt_tokens, left)
    if affordable is not None:
        if affordable < 1:
            raise _member_used_up() if left[1] == _least(left) else _team_used_up()
        if affordable < (BOUND_BELOW_TOKENS if max_tokens is None else max_tokens):
            max_tokens = affordable
    completion = ASSUMED_COMPLETION_TOKENS if max_tokens is None else max_tokens
    amount = price_amount(price, prompt_tokens=prompt_tokens, completion_tokens=completion)
    return max_tokens, amount


def _budget_and_left(team: Any, user: Any, month: datetime.date) -> tuple[TeamBudget | None, Left]:
    """The team's budget and the money left this month under its limit and under the
    member's cap (None where there is no limit): one query. A counter not made yet has used
    nothing under the budget's limit, as it will be made."""
    connection = connections[router.db_for_read(TeamBudget)]
    month_param = TeamMonth._meta.get_field("month").get_db_prep_value(month, connection)
    params = [month_param, user.pk, month_param, team.pk]
    budget = next(iter(TeamBudget.objects.raw(_BUDGET_AND_USED, params)), None)
    if budget is None:
        return None, (None, None)
    row: Any = budget  # the joined columns are attributes of the instance

    def left(made: Any, limit: Any, spent: Any, reserved: Any, default: Decimal | None) -> Any:
        if made is None:
            return default
        if limit is None:
            return None
        return _decimal(limit) - _decimal(spent) - _decimal(reserved)

    team_left = left(row.t_id, row.t_limit, row.t_spent, row.t_reserved, budget.monthly_limit)
    member_left = left(
        row.m_id, row.m_limit, row.m_spent, row.m_reserved, budget.member_monthly_cap
    )
    return budget, (team_left, member_left)


def _decimal(value: Any) -> Decimal:
    """A joined amount column as the database gave it (SQLite: a float or an int)."""
    return money(value if isinstance(value, Decimal) else str(value or 0))


def _least(left: Left) -> Decimal | None:
    return min((x for x in left if x is not None), default=None)


def _affordable(price: Price, prompt_tokens: int, left: Left) -> int | None:
    """How many completion tokens the money left pays for after the prompt (0 if not even
    the prompt); None when no limit bounds the reply (no limit, or completions are free)."""
    room = _least(left)
    if room is None:
        return None
    after_prompt = room - price_amount(price, prompt_tokens=prompt_tokens)
    per_1k = price.completion_per_1k
    if after_prompt < 0:
        return 0
    if per_1k <= 0:
        return None
    tokens = min(int(after_prompt * 1000 / per_1k), MAX_TOKENS)
    # The amount is rounded to six places: step down until the whole reply fits.
    while tokens > 0 and (
        price_amount(price, prompt_tokens=prompt_tokens, completion_tokens=tokens) > room
    ):
        tokens -= 1
    return tokens


def charge_reply(
    record: UsageRecord,
    *,
    complete: bool,
    delivered: str,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> bool:
    """Charge a reply that ended for what it delivered: the gateway's counts when it sent
    them, else the completion estimated from `delivered` (the text and reasoning written)
    with the prompt's estimate, marked estimated. Only a reply that ended early having
    delivered nothing (no text, no counts) is refunded: the gateway bills every token it
    streamed, stopped or not. False if the record was settled or refunded already."""
    counts = _reply_counts(record, complete, delivered, prompt_tokens, completion_tokens)
    if counts is None:
        return refund(record)
    prompt, completion, reported = counts
    price = quote(record.model, prompt_tokens=prompt, completion_tokens=completion)
    return settle(
        record,
        cost=price.amount,
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated=not reported,
    )


def _reply_counts(
    record: UsageRecord,
    complete: bool,
    delivered: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
) -> tuple[int, int, bool] | None:
    """The counts a reply is charged for and whether the gateway reported them; None when it
    is refunded (see charge_reply). The gateway's counts are clamped (clamp_tokens)."""
    prompt_tokens, completion_tokens = clamp_tokens(prompt_tokens), clamp_tokens(completion_tokens)
    reported = prompt_tokens is not None
    if not complete and not reported and not delivered:
        return None
    if reported:
        return int(prompt_tokens or 0), int(completion_tokens or 0), True
    return record.prompt_tokens, estimate_tokens(delivered), False


def recharge_reply(
    message_id: int,
    *,
    complete: bool,
    delivered: str,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> UsageRecord | None:
    """A reply already charged when another process ended it (the sweep for replies of dead
    processes charges the last checkpoint, estimated) and then stored whole by its own
    process, alive after all: add a correction of the difference between what charge_reply
    charges for the whole reply and what was charged. The ledger is append-only, so the
    first record stays as it is. None when nothing differs (a second store of the same
    reply) or no record was closed for it."""
    record = (
        UsageRecord.objects.filter(message_id=message_id, kind=UsageRecord.Kind.CHAT)
        .exclude(status=UsageRecord.Status.RESERVED)
        .select_related("team", "user")
        .order_by("-pk")
        .first()
    )
    if record is None or record.user is None:
        return None
    counts = _reply_counts(record, complete, delivered, prompt_tokens, completion_tokens)
    cost = ZERO
    if counts is not None:
        prompt, completion, _reported = counts
        cost = quote(record.model, prompt_tokens=prompt, completion_tokens=completion).amount
    charged = record.cost if record.status == UsageRecord.Status.SETTLED else ZERO
    corrections = UsageRecord.objects.filter(
        kind=UsageRecord.Kind.CORRECTION, note=_recharge_note(message_id)
    ).values_list("cost", flat=True)
    difference = money(cost - charged - sum(corrections, ZERO))
    if difference == ZERO:
        return None
    return correct(
        team=record.team,
        user=record.user,
        amount=difference,
        note=_recharge_note(message_id),
        by=None,
    )


def _recharge_note(message_id: int) -> str:
    return f"Reply {message_id} stored whole after another process had ended and charged it"


def charge_reply_of(
    message_id: int,
    *,
    complete: bool,
    delivered: str,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> bool:
    """charge_reply for the reply `message_id`'s reserved record, if it has one."""
    record = pending_reply_record(message_id)
    return record is not None and charge_reply(
        record,
        complete=complete,
        delivered=delivered,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def settle_chat(record: UsageRecord, *, usage: Any | None, content: str) -> bool:
    """Settle a complete reply with the gateway's counts (`usage`, as gateway.types.Usage)
    or an estimate from its text."""
    reported = usage is not None and usage.prompt_tokens is not None
    return charge_reply(
        record,
        complete=True,
        delivered=content,
        prompt_tokens=usage.prompt_tokens if usage is not None and reported else None,
        completion_tokens=usage.completion_tokens if usage is not None and reported else None,
    )


def pending_record(**link: Any) -> UsageRecord | None:
    """The newest record still reserved for `link` (a job re-queued may have had several)."""
    return UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED, **link).first()


def pending_reply_record(message_id: int) -> UsageRecord | None:
    """The reply's record while it is reserved. A reply has one record (begin_reply reserves
    once, for the assistant message it has just made), so any one found is it."""
    rows = UsageRecord.objects.raw(_PENDING_REPLY, [UsageRecord.Status.RESERVED, message_id])
    return next(iter(rows), None)


# Replies ending together (chat.services.finish_replies, a batch of reply ends in one
# transaction): charge_reply_of for each, with the reads they share made once and the
# counters moved once per batch. Amounts, counts and the refund rule are charge_reply's; each
# record is still closed once, by its own conditional UPDATE.


@dataclass
class ReplyCharges:
    """The charges of replies ending in one transaction. `for_replies` reads their reserved
    records and their models' prices (two queries for any number); `charge` closes one
    reply's record as charge_reply_of would (one UPDATE) and keeps what it moves; `release`
    then moves every closed record's reservation off its counters (one UPDATE per table).
    The caller runs `release` in the same transaction, after its last `charge`."""

    records: dict[int | None, UsageRecord]  # by message id
    prices: dict[str, Price]
    closed: list[tuple[UsageRecord, Decimal]] = field(default_factory=list)

    @classmethod
    def for_replies(cls, message_ids: list[int]) -> ReplyCharges:
        records: dict[int | None, UsageRecord] = {}
        if message_ids:
            sql = _PENDING_REPLIES.format(", ".join(["%s"] * len(message_ids)))
            for record in UsageRecord.objects.raw(sql, [UsageRecord.Status.RESERVED, *message_ids]):
                records.setdefault(record.message_id, record)  # one per reply, as found
        models_ = sorted({record.model for record in records.values()} | {Price.DEFAULT})
        sql = _PRICES_OF.format(", ".join(["%s"] * len(models_)))
        prices = {price.model: price for price in Price.objects.raw(sql, models_)}
        return cls(records, prices)

    def charge(
        self,
        message_id: int,
        *,
        complete: bool,
        delivered: str,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> bool:
        """charge_reply_of, the counters left for `release`: False if the reply has no
        record still reserved."""
        record = self.records.get(message_id)
        if record is None or record.status != UsageRecord.Status.RESERVED:
            return False
        counts = _reply_counts(record, complete, delivered, prompt_tokens, completion_tokens)
        if counts is None:
            fields = _refunded()
        else:
            prompt, completion, reported = counts
            price, _default = _price_in(self.prices, record.model)
            cost = price_amount(price, prompt_tokens=prompt, completion_tokens=completion)
            fields = _settled(record, cost, prompt, completion, not reported)
        if not _close(record, fields):
            return False
        self.closed.append((record, fields["cost"]))
        _wrote(record, fields)
        return True

    def release(self) -> None:
        """_release for every record closed so far, summed per counter."""
        teams: dict[tuple[Any, ...], Moved] = {}
        members: dict[tuple[Any, ...], Moved] = {}
        for record, spent in self.closed:
            for moves, key in (
                (teams, (record.team_id, record.month)),
                (members, (record.team_id, record.user_id, record.month)),
            ):
                reserved, spent_before = moves.get(key, (ZERO, ZERO))
                moves[key] = (reserved + record.reserved, spent_before + spent)
        _move(TeamMonth, ("team_id", "month"), teams)
        _move(MemberMonth, ("team_id", "user_id", "month"), members)
        self.closed = []


Moved = tuple[Decimal, Decimal]  # taken off a counter's reserved, added to its spent

_PENDING_REPLIES = (
    f'SELECT * FROM "{UsageRecord._meta.db_table}" '  # noqa: S608
    'WHERE "status" = %s AND "message_id" IN ({})'
)
_PRICES_OF = f'SELECT * FROM "{Price._meta.db_table}" WHERE "model" IN ({{}})'  # noqa: S608


def _move(model: Counter, key: tuple[str, ...], moves: dict[tuple[Any, ...], Moved]) -> None:
    """_release for several counters at once: each counter, named by the values of its `key`
    columns, gets reserved -= and spent += its amounts in `moves`; one UPDATE (a CASE per
    column) whatever the number of counters."""
    if not moves:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [_column(model, name) for name in key]
    match = " AND ".join(f"{quote(str(column.column))} = %s" for column in columns)
    keys = [
        [
            column.get_db_prep_value(value, connection)
            for column, value in zip(columns, v, strict=True)
        ]
        for v in moves
    ]
    case = f"CASE {' '.join([f'WHEN {match} THEN %s'] * len(moves))} END"
    sql = (
        f"UPDATE {quote(model._meta.db_table)} "  # noqa: S608
        f'SET "reserved" = "reserved" - {case}, "spent" = "spent" + {case} '
        f"WHERE {' OR '.join([f'({match})'] * len(moves))}"
    )
    amounts = list(moves.values())
    reserved = [p for k, (r, _s) in zip(keys, amounts, strict=True) for p in (*k, r)]
    spent = [p for k, (_r, s) in zip(keys, amounts, strict=True) for p in (*k, s)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*reserved, *spent, *(p for k in keys for p in k)])


def _column(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)  # a column, not a reverse relation
    return field


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


@dataclass(frozen=True)
class Spend:
    """A month's money: `spent` (settled) and `reserved` (calls in flight or left reserved).
    The Team page and the usage page both show these, from `month_spend`."""

    spent: Decimal = ZERO
    reserved: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.spent + self.reserved


def month_spend(teams: Any, month: datetime.date) -> dict[int, Spend]:
    """Each team's Spend in `month` (a team or a queryset of teams), from its counter: one
    query. A team without a counter that month spent nothing."""
    rows = TeamMonth.objects.filter(month=month)
    rows = rows.filter(team=teams) if isinstance(teams, Team) else rows.filter(team__in=teams)
    return {
        team_id: Spend(spent, reserved)
        for team_id, spent, reserved in rows.values_list("team_id", "spent", "reserved")
    }


def member_spend(team: Any, month: datetime.date) -> dict[int, Spend]:
    """Each member's Spend in `team` and `month`: one query."""
    rows = MemberMonth.objects.filter(team=team, month=month).values_list(
        "user_id", "spent", "reserved"
    )
    return {user_id: Spend(spent, reserved) for user_id, spent, reserved in rows}


# The sweep: records left reserved after their reply or job ended (a process killed between
# a transition and its charge, or one whose charge failed).

Closer = Callable[[UsageRecord], bool]
SWEEP_BATCH = 500
_closers: dict[str, Closer] = {}


def register_closer(link: str, closer: Closer) -> None:
    """Let the sweep settle or refund records linked by `link` (the record's foreign key:
    "message", "job"). `closer(record)` returns False while what was charged is still active
    (the record is left alone) and True once it has settled or refunded the record through
    this module. Registered by the app that owns the link, in its AppConfig.ready()."""
    _closers[link] = closer


def sweep_reservations(*, older_than: datetime.timedelta = datetime.timedelta(minutes=2)) -> int:
    """Settle or refund the records reserved longer than `older_than` whose reply or job is
    no longer active, through the closer registered for the record's link; the number
    closed. Safe to run in several processes at once: each record closes once."""
    before = timezone.now() - older_than
    stale = (
        UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED, created_at__lt=before)
        .select_related("message", "job")
        .order_by("pk")
    )
    closed = 0
    # Read first (the closers write on this connection), a bounded batch: the next beat
    # takes the rest.
    for record in list(stale[:SWEEP_BATCH]):
        link = record.link
        try:
            if not link:
                # Its subject was deleted (the link is now NULL) or it never had one: nothing
                # delivered can be proven, so the reservation is given back.
                closed += refund(record)
            elif (closer := _closers.get(link)) is not None:
                closed += bool(closer(record))
        except Exception:  # one bad record must not stop the others
            logger.exception("Could not close usage record %s", record.pk)
    return closed


# Corrections: the ledger is append-only, so a wrong charge is answered by a new record.


def correct(*, team: Any, user: Any, amount: Decimal, note: str, by: Any) -> UsageRecord:
    """Add a correction of `amount` (negative gives money back) to `user`'s spend in `team`
    this month, made by the site admin `by`: settled at once, moving both month counters,
    never refused by a budget."""
    amount = money(amount)
    month = current_month()
    budget = team_budget(team)
    with transaction.atomic():
        key = {"team_id": team.pk, "month": month}
        _make(TeamMonth(team=team, month=month, limit=budget.monthly_limit if budget else None))
        cap = budget.member_monthly_cap if budget else None
        _make(MemberMonth(team=team, user=user, month=month, limit=cap))
        change = '"spent" = "spent" + %s'
        _update(TeamMonth, key, change, [amount])
        _update(MemberMonth, {**key, "user_id": user.pk}, change, [amount])
        return UsageRecord.objects.create(
            team=team,
            user=user,
            kind=UsageRecord.Kind.CORRECTION,
            model="",
            month=month,
            estimated=False,
            reserved=ZERO,
            cost=amount,
            status=UsageRecord.Status.SETTLED,
            settled_at=timezone.now(),
            note=note,
            corrected_by=by,
        )


# What the usage page warns about


def default_price_warning() -> list[str]:
    """The site default's amounts that are zero (so calls without a price of their own are
    free in that respect); [] when every amount charges something."""
    row = Price.objects.filter(model=Price.DEFAULT).first() or Price.site_default()
    return row.zero_amounts()


def unpriced_models(listed: list[str]) -> dict[str, list[str]]:
    """What was charged at the default price and still has no price ("charged": distinct
    model names of such records), and the models in `listed` (the gateway's) without a price
    of their own ("listed")."""
    charged = (
        UsageRecord.objects.filter(default_price=True)
        .exclude(model__in=Price.objects.values("model"))  # priced since
        .order_by("model")
        .values_list("model", flat=True)
        .distinct()
    )
    priced = set(Price.objects.filter(model__in=listed).values_list("model", flat=True))
    return {
        "charged": list(charged),
        "listed": sorted(m for m in set(listed) - priced if m != Price.DEFAULT),
    }
