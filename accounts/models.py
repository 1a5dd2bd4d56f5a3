from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any, Self

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, router, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts import usernames

# The gateway's text-to-speech voices today (docs/gateway-api.md, "Audio"); the older models
# (tts-1, tts-1-hd) know only the first six of the old list.
SPEECH_VOICES = [
    (name, name.capitalize())
    for name in (
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "fable",
        "onyx",
        "nova",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    )
]
LEGACY_SPEECH_VOICES = frozenset({"alloy", "echo", "fable", "onyx", "nova", "shimmer"})
LEGACY_SPEECH_MODELS = frozenset({"tts-1", "tts-1-hd"})
SPEECH_MIN_SPEED = Decimal("0.25")
SPEECH_MAX_SPEED = Decimal("4.00")


def speech_voices_for(model: str) -> list[str]:
    """The voices `model` knows: the old six for tts-1 and tts-1-hd, all of them otherwise."""
    names = [name for name, _label in SPEECH_VOICES]
    if model in LEGACY_SPEECH_MODELS:
        return [name for name in names if name in LEGACY_SPEECH_VOICES]
    return names


class SavedAtomically(models.Model):
    """A model saved in one transaction with its pre_save and post_save receivers. Outside any
    atomic block Django commits a save before it sends post_save; accounts.signals bumps
    User.access_version there, and that bump must commit together with the change it reports."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            super().save(*args, **kwargs)


# SavedAtomically after AbstractUser: User takes the Meta (verbose names) of its first base.
class User(AbstractUser, SavedAtomically):  # noqa: DJ008 (AbstractBaseUser names it)
    """Custom from the first migration so fields can be added later without pain."""

    class Theme(models.TextChoices):
        SYSTEM = "system", _("System")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    # Personal settings (accounts.views.settings_page); blank means "the site's default".
    # Database defaults too: rows written by code that predates these columns stay valid.
    display_name = models.CharField(
        _("display name"), max_length=100, blank=True, default="", db_default=""
    )
    default_model = models.CharField(
        _("default model"), max_length=200, blank=True, default="", db_default=""
    )
    theme = models.CharField(
        _("theme"),
        max_length=10,
        choices=Theme.choices,
        default=Theme.SYSTEM,
        db_default=Theme.SYSTEM,
    )
    language = models.CharField(_("language"), max_length=10, blank=True, default="", db_default="")
    # Voice input: the language spoken (ISO-639-1; blank: detected), and the seconds a
    # transcript waits in the composer before it is sent (0: never sent by itself).
    transcription_language = models.CharField(
        _("transcription language"), max_length=10, blank=True, default="", db_default=""
    )
    voice_autosend_seconds = models.PositiveSmallIntegerField(
        _("send a transcript after (seconds)"), default=0, db_default=0
    )
    # Read aloud (chat.speech): the voice and speed replies are read in, and whether a new
    # reply is read as soon as it is finished.
    speech_voice = models.CharField(
        _("voice"), max_length=20, choices=SPEECH_VOICES, default="alloy", db_default="alloy"
    )
    speech_speed = models.DecimalField(
        _("reading speed"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("1.00"),
        db_default=Decimal("1.00"),
        validators=[MinValueValidator(SPEECH_MIN_SPEED), MaxValueValidator(SPEECH_MAX_SPEED)],
    )
    speech_autoplay = models.BooleanField(
        _("read new replies aloud"), default=False, db_default=False
    )
    # Bumped in the same transaction as every change that may revoke the user's access (a
    # membership, a team-owned object's sharing, the password, deactivation, a session's end):
    # a socket that finds the number it read at connect unchanged may trust what it checked
    # then (accounts.access.bump_access_version, accounts.signals).
    access_version = models.PositiveBigIntegerField(
        _("access version"), default=0, db_default=0, editable=False
    )

    def clean(self) -> None:
        """A new or changed username may not mix scripts or pass for another user's
        (accounts.usernames); names already taken are left as they are."""
        super().clean()
        if not self.username:
            return  # the field's own validation says so
        if not self._state.adding:
            stored = User._base_manager.filter(pk=self.pk).values_list("username", flat=True)
            if stored.first() == self.username:
                return
        others = User._base_manager.exclude(pk=self.pk).values_list("username", flat=True)
        try:
            usernames.validate(self.username, list(others))
        except ValidationError as error:
            raise ValidationError({"username": error.error_list}) from None

    @property
    def shown_name(self) -> str:
        """How the user is named to teammates: "Display Name (username)", or the username."""
        username = self.get_username()
        return f"{self.display_name} ({username})" if self.display_name else username


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100)
    # Whether writers may give a conversation a public, read-only link (chat.PublicLink);
    # turning it off stops every link of the team at once.
    allow_public_links = models.BooleanField(
        _("allow public links"), default=False, db_default=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    members = models.ManyToManyField(
        User,
        through="Membership",
        related_name="teams",
        verbose_name=pgettext_lazy("team field", "members"),
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class Membership(SavedAtomically):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MEMBER = "member", _("Member")
        VIEWER = "viewer", _("Viewer")

    team = models.ForeignKey(
        Team, models.CASCADE, related_name="memberships", verbose_name=_("team")
    )
    user = models.ForeignKey(
        User, models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="unique_team_member"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    # The roles that may create and change team-owned objects; viewers only read.
    WRITING_ROLES = (Role.OWNER, Role.MEMBER)

    @property
    def can_write(self) -> bool:
        return self.role in self.WRITING_ROLES

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _default_expiry():
    return timezone.now() + timedelta(hours=settings.INVITE_TTL_HOURS)


class InviteQuerySet(models.QuerySet["Invite"]):
    def usable(self) -> InviteQuerySet:
        """Not used yet and not expired: the one definition of a live invite."""
        return self.filter(used_at__isnull=True, expires_at__gt=timezone.now())


class Invite(models.Model):
    """A single-use, expiring link that adds its holder to a team with a role."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="invites", verbose_name=_("team"))
    role = models.CharField(
        _("role"), max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    token = models.CharField(
        _("token"), max_length=64, unique=True, default=_new_token, editable=False
    )
    created_by = models.ForeignKey(
        User, models.SET_NULL, null=True, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), default=_default_expiry)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_by = models.ForeignKey(
        User, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("used by")
    )

    objects = InviteQuerySet.as_manager()

    class Meta:
        verbose_name = _("invite")
        verbose_name_plural = _("invites")

    def __str__(self) -> str:
        return f"Invite to {self.team} as {self.role}"

    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class TeamOwnedQuerySet(models.QuerySet):
    """The privacy rule of every team-owned model, as queries (see TeamOwned)."""

    def visible_to(self, user, team: Team | None = None) -> Self:
        """What `user` may read: their own and shared objects, only in teams they belong to
        (in `team` only, when given)."""
        if not user.is_authenticated:
            return self.none()
        member = Membership.objects.filter(team_id=OuterRef("team_id"), user=user)
        readable = self.filter(Exists(member)).readable_by(user)
        return readable if team is None else readable.filter(team=team)

    def readable_by(self, user) -> Self:
        """The other half of visible_to, for a caller that loads the user's membership of the
        object's team itself (accounts.access.get_for_user): their own and shared objects."""
        return self.filter(Q(created_by=user) | Q(is_shared=True))

    def with_can_write(self, user) -> Self:
        """Annotate each row with `can_write`: the SQL form of TeamOwned.may_write."""
        writer = Membership.objects.filter(
            team_id=OuterRef("team_id"), user=user, role__in=Membership.WRITING_ROLES
        )
        return self.annotate(
            can_write=models.Case(
                models.When(Q(created_by=user) & Exists(writer), then=models.Value(True)),
                default=models.Value(False),
                output_field=models.BooleanField(),
            )
        )


class TeamOwned(SavedAtomically):
    """An object of a team: private to its creator, readable by the team once shared,
    writable by its creator with a writing role. Subclasses get the rule by inheriting it,
    accounts.access loads them through it, accounts.signals tells open sockets when it
    changes."""

    team = models.ForeignKey(
        Team, models.CASCADE, related_name="%(class)ss", verbose_name=_("team")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="%(class)ss",
        verbose_name=_("created by"),
    )
    is_shared = models.BooleanField(_("shared with team"), default=False)

    objects = TeamOwnedQuerySet.as_manager()

    # Saving a change to one of these fields changes who may see the object.
    ACCESS_FIELDS = ("team_id", "created_by_id", "is_shared")

    class Meta:
        abstract = True

    def may_write(self, user, membership: Membership | None) -> bool:
        """The one rule for changing a team-owned object: its creator, with a writing role."""
        return (
            membership is not None
            and membership.team_id == self.team_id
            and membership.user_id == user.pk
            and self.created_by_id == user.pk
            and membership.can_write
        )

    @property
    def group_name(self) -> str:
        """The channel-layer group of the object's open tabs, e.g. conversation_<uuid hex>."""
        return self.group_name_for(self.pk)

    @classmethod
    def group_name_for(cls, pk: Any) -> str:
        """`group_name` from the primary key alone, without loading the object."""
        key = pk.hex if isinstance(pk, uuid.UUID) else pk
        return f"{cls._meta.model_name}_{key}"
