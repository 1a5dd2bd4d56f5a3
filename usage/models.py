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

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

ZERO = Decimal(0)


def month_of(day: datetime.date | datetime.datetime) -> datetime.date:
    """The first day of the month `day` falls in: the key of a month's counters."""
    return datetime.date(day.year, day.month, 1)


class Price(models.Model):
    """What one model costs through the gateway. `model` "*" is the site default, charged for
    models without a price of their own (and flagged on the usage page)."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Set by hand")
        GATEWAY = "gateway", _("Imported from the gateway")

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
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.MANUAL
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["model"]

    def __str__(self) -> str:
        return self.model


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


class UsageRecord(models.Model):
    """One charge: one gateway call (a chat reply, a media job, a transcription…)."""

    class Kind(models.TextChoices):
        CHAT = "chat", _("Chat")
        IMAGE = "image", _("Image")
        MIDJOURNEY = "midjourney", _("Midjourney")
        SUNO = "suno", _("Suno")
        LUMA = "luma", _("Luma")
        AUDIO = "audio", _("Audio")
        EMBEDDING = "embedding", _("Embedding")

    class Status(models.TextChoices):
        RESERVED = "reserved", _("Reserved")
        SETTLED = "settled", _("Settled")
        REFUNDED = "refunded", _("Refunded")

    team = models.ForeignKey("accounts.Team", models.CASCADE, related_name="usage_records")
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
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

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
