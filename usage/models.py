"""Money: prices, the ledger of charges, team budgets and the counters that enforce them.

Every gateway call is charged through usage.services: reserve the estimated cost before the
call (one conditional UPDATE per counter, never read-modify-write), settle with the real cost
after, refund on failure. Amounts are Decimal in settings.USAGE_CURRENCY, never float.

A month's counters (`TeamMonth`, `MemberMonth`) are created on first use, so months roll over
without a cron job; each copies the limit in force, so the reservation UPDATE needs no join.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

ZERO = Decimal(0)

# The site default ("*") a fresh install starts with (a data migration writes it), and what is
# charged should the row be missing: never zero by accident. Plausible list prices in USD.
DEFAULT_PRICE: dict[str, Decimal] = {
    "prompt_per_1k": Decimal("0.005"),
    "completion_per_1k": Decimal("0.015"),
    "per_action": Decimal("0.10"),
    "per_image": Decimal("0.04"),
    "per_audio_second": Decimal("0.0001"),
    "per_1k_characters": Decimal("0.015"),
}


def month_of(day: datetime.date | datetime.datetime) -> datetime.date:
    """The first day of the month `day` falls in: the key of a month's counters."""
    return datetime.date(day.year, day.month, 1)


class Price(models.Model):
    """What one model costs through the gateway. `model` "*" is the site default, charged for
    models without a price of their own (and flagged on the usage page)."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Set by hand")
        GATEWAY = "gateway", _("Imported from the gateway")
        DEFAULT = "default", _("Installed default")

    DEFAULT = "*"

    model = models.CharField(_("model"), max_length=200, unique=True)
    prompt_per_1k = models.DecimalField(
        _("per 1K prompt tokens"), default=ZERO, max_digits=14, decimal_places=6
    )
    completion_per_1k = models.DecimalField(
        _("per 1K completion tokens"), default=ZERO, max_digits=14, decimal_places=6
    )
    per_image = models.DecimalField(_("per image"), default=ZERO, max_digits=14, decimal_places=6)
    per_action = models.DecimalField(
        _("per media action"), default=ZERO, max_digits=14, decimal_places=6
    )
    per_audio_second = models.DecimalField(
        _("per second of audio"), default=ZERO, max_digits=14, decimal_places=6
    )
    per_1k_characters = models.DecimalField(
        _("per 1K characters"), default=ZERO, max_digits=14, decimal_places=6
    )
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.MANUAL
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    AMOUNTS = tuple(DEFAULT_PRICE)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["model"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    prompt_per_1k__gte=0,
                    completion_per_1k__gte=0,
                    per_image__gte=0,
                    per_action__gte=0,
                    per_audio_second__gte=0,
                    per_1k_characters__gte=0,
                ),
                name="price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.model

    def clean(self) -> None:
        errors = {
            name: _("A price cannot be negative.")
            for name in self.AMOUNTS
            if getattr(self, name) is not None and getattr(self, name) < 0
        }
        if errors:
            raise ValidationError(errors)

    @classmethod
    def site_default(cls) -> Price:
        """The "*" row as a fresh install has it (unsaved): charged if the row is missing."""
        return cls(model=cls.DEFAULT, source=cls.Source.DEFAULT, **DEFAULT_PRICE)

    def zero_amounts(self) -> list[str]:
        """The names of this price's amounts that are zero (free)."""
        return [name for name in self.AMOUNTS if not getattr(self, name)]


class TeamBudget(models.Model):
    """A team's limits: a monthly budget (None: no limit; 0 refuses every call), an optional
    monthly cap per member, and per-role model allow-lists (empty: every model)."""

    team = models.OneToOneField("accounts.Team", models.CASCADE, related_name="budget")
    monthly_limit = models.DecimalField(
        _("monthly budget"), null=True, blank=True, max_digits=14, decimal_places=6
    )
    member_monthly_cap = models.DecimalField(
        _("monthly cap per member"), null=True, blank=True, max_digits=14, decimal_places=6
    )
    # {"member": ["gpt-4o-mini", ...], "viewer": [...]}: a role absent or empty may use any model.
    allowed_models = models.JSONField(_("models allowed per role"), default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("team budget")
        verbose_name_plural = _("team budgets")

    def __str__(self) -> str:
        return str(self.team)

    def allows(self, role: str, model: str) -> bool:
        allowed = self.allowed_models.get(role) if isinstance(self.allowed_models, dict) else None
        return not allowed or model in allowed


class TeamMonth(models.Model):
    """A team's spend in one month: `spent` (settled) and `reserved` (calls in flight), with
    the limit copied from TeamBudget when the row was made or the budget last changed."""

    team = models.ForeignKey("accounts.Team", models.CASCADE, related_name="months")
    month = models.DateField(_("month"))
    limit = models.DecimalField(_("limit"), null=True, blank=True, max_digits=14, decimal_places=6)
    spent = models.DecimalField(_("spent"), default=ZERO, max_digits=14, decimal_places=6)
    reserved = models.DecimalField(_("reserved"), default=ZERO, max_digits=14, decimal_places=6)

    class Meta:
        verbose_name = _("team month")
        verbose_name_plural = _("team months")
        constraints = [
            models.UniqueConstraint(fields=["team", "month"], name="unique_team_month"),
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.month:%Y-%m}"


class MemberMonth(models.Model):
    """One member's spend in one team and month, with the member cap copied in."""

    team = models.ForeignKey("accounts.Team", models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    month = models.DateField(_("month"))
    limit = models.DecimalField(_("limit"), null=True, blank=True, max_digits=14, decimal_places=6)
    spent = models.DecimalField(_("spent"), default=ZERO, max_digits=14, decimal_places=6)
    reserved = models.DecimalField(_("reserved"), default=ZERO, max_digits=14, decimal_places=6)

    class Meta:
        verbose_name = _("member month")
        verbose_name_plural = _("member months")
        constraints = [
            models.UniqueConstraint(fields=["team", "user", "month"], name="unique_member_month"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} {self.month:%Y-%m}"


class LedgerIsAppendOnly(Exception):
    """Usage records are never deleted: a mistake is corrected by a new record
    (usage.services.correct)."""


class UsageRecordQuerySet(models.QuerySet["UsageRecord"]):
    def delete(self) -> NoReturn:
        raise LedgerIsAppendOnly("Usage records cannot be deleted; add a correction instead.")

    delete.queryset_only = True  # type: ignore[attr-defined]


class UsageRecord(models.Model):
    """One charge: one gateway call (a chat reply, a media job, a transcription…), or a
    correction a site admin made. Append-only: never deleted; the one change a record gets
    is reserved → settled or refunded, once (usage.services)."""

    class Kind(models.TextChoices):
        CHAT = "chat", _("Chat")
        IMAGE = "image", _("Image")
        MIDJOURNEY = "midjourney", _("Midjourney")
        SUNO = "suno", _("Suno")
        LUMA = "luma", _("Luma")
        AUDIO = "audio", _("Audio")
        EMBEDDING = "embedding", _("Embedding")
        TITLE = "title", _("Title")  # a conversation's title written by a model
        CORRECTION = "correction", _("Correction")

    class Status(models.TextChoices):
        RESERVED = "reserved", _("Reserved")
        SETTLED = "settled", _("Settled")
        REFUNDED = "refunded", _("Refunded")

    # PROTECT: deleting a team that was charged is refused (the admin says which records stop
    # it), since the ledger keeps every charge; a team never charged can still be deleted.
    team = models.ForeignKey("accounts.Team", models.PROTECT, related_name="usage_records")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="usage_records"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    model = models.CharField(_("model"), max_length=200)
    month = models.DateField(_("month"))
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), default=0)
    # True when the counts (and so the cost) were estimated, not reported by the gateway.
    estimated = models.BooleanField(_("estimated"), default=True)
    # True when the model had no price of its own and the site default was charged.
    default_price = models.BooleanField(_("charged at the default price"), default=False)
    reserved = models.DecimalField(_("reserved"), default=ZERO, max_digits=14, decimal_places=6)
    cost = models.DecimalField(_("cost"), default=ZERO, max_digits=14, decimal_places=6)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RESERVED
    )
    conversation = models.ForeignKey(
        "chat.Conversation", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        "chat.Message", models.SET_NULL, null=True, blank=True, related_name="usage_records"
    )
    job = models.ForeignKey(
        "media_jobs.MediaJob", models.SET_NULL, null=True, blank=True, related_name="usage_records"
    )
    # Corrections: why, and which site admin made it.
    note = models.CharField(_("note"), max_length=500, blank=True)
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["team", "created_at"]),
            models.Index(fields=["team", "user", "month"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.cost}"

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise LedgerIsAppendOnly("Usage records cannot be deleted; add a correction instead.")

    @property
    def link(self) -> str:
        """The name of the foreign key to what was charged ("message", "job"), or "" when
        there is none (a correction, or its subject was deleted)."""
        if self.message_id is not None:
            return "message"
        if self.job_id is not None:
            return "job"
        return ""


class AuditEntry(models.Model):
    """A site admin looked at a member's content (a conversation, a message, a job)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=100)
    target = models.CharField(_("what"), max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    path = models.CharField(_("page"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target}"
