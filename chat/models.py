from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from fnmatch import fnmatchcase

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Membership, TeamOwned, TeamOwnedQuerySet


class ConversationQuerySet(TeamOwnedQuerySet):
    def with_pins(self, user) -> ConversationQuerySet:
        """Annotate each row with `is_pinned`: whether `user` (not anyone else) pinned it."""
        pins = Pin.objects.filter(user=user, conversation=models.OuterRef("pk"))
        return self.annotate(is_pinned=models.Exists(pins))

    def with_filing(self, user) -> ConversationQuerySet:
        """Annotate each row with `user`'s own `is_archived` and `folder_id` (None: no folder)."""
        archived = Archive.objects.filter(user=user, conversation=models.OuterRef("pk"))
        placed = FolderItem.objects.filter(user=user, conversation=models.OuterRef("pk"))
        return self.annotate(
            is_archived=models.Exists(archived),
            folder_id=models.Subquery(placed.values("folder_id")[:1]),
        )

    def sidebar_order(self, user) -> ConversationQuerySet:
        """The viewer's pins first, then the most recently active."""
        return self.with_pins(user).order_by("-is_pinned", "-updated_at")

    def search(self, q: str) -> ConversationQuerySet:
        """Conversations whose title or any message contains `q`; all of them for a blank `q`."""
        q = q.strip()
        if not q:
            return self
        return self.filter(
            models.Q(title__icontains=q) | models.Q(messages__content__icontains=q)
        ).distinct()


class Conversation(TeamOwned):
    """A chat thread; who may read and change it is TeamOwned's rule (team, created_by,
    is_shared)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(_("title"), max_length=200, blank=True)
    model = models.CharField(_("model"), max_length=200, blank=True)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    # The message at the end of the branch currently shown (edits and regenerations fork).
    current_leaf = models.ForeignKey(
        "Message",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current message"),
    )
    forked_from = models.ForeignKey(
        "self",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="forks",
        verbose_name=_("forked from"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    objects = ConversationQuerySet.as_manager()  # type: ignore[misc]  # TeamOwned's, extended

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [models.Index(fields=["team", "created_by", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or str(_("New chat"))

    def get_absolute_url(self) -> str:
        return reverse("chat:conversation", args=[self.pk])


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("User")
        ASSISTANT = "assistant", _("Assistant")

    class Status(models.TextChoices):
        STREAMING = "streaming", _("Streaming")
        COMPLETE = "complete", _("Complete")
        STOPPED = "stopped", _("Stopped")
        INTERRUPTED = "interrupted", _("Interrupted")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(
        Conversation, models.CASCADE, related_name="messages", verbose_name=_("conversation")
    )
    # Previous message in the thread; siblings (same parent) are alternative versions.
    parent = models.ForeignKey(
        "self",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("previous message"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("author"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.COMPLETE
    )
    content = models.TextField(_("content"), blank=True)
    reasoning = models.TextField(_("reasoning"), blank=True)
    # Sanitised HTML rendered once when the message completes.
    html = models.TextField(_("HTML"), blank=True)
    model = models.CharField(_("model"), max_length=200, blank=True)
    finish_reason = models.CharField(_("finish reason"), max_length=32, blank=True)
    error = models.TextField(_("error"), blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), null=True, blank=True)
    # From the start of the generation to its first content and to its end (chat.streaming).
    ttft_ms = models.PositiveIntegerField(_("time to first token (ms)"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # How the message was sent, when not as chat: the composer's Complete mode stores
    # {"mode": "complete", "model", "max_tokens", "temperature", "stop"} (chat.completions).
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    # The ServingProcess writing a reply while it streams (chat.liveness); "" for a message
    # no generation writes (a translation, older rows).
    owner = models.CharField(_("Owner"), max_length=32, blank=True, default="", editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message")
        # "messages" alone is the admin's count column ("消息数"); the model's name differs.
        verbose_name_plural = pgettext_lazy("model name", "messages")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            # The sweep for replies of dead processes reads only the few rows streaming.
            models.Index(
                fields=["owner"],
                condition=models.Q(status="streaming"),
                name="chat_message_streaming",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def is_streaming(self) -> bool:
        return self.status == self.Status.STREAMING

    def copy_to(self, conversation: Conversation, *, parent: Message | None) -> Message:
        # Nothing will ever finish a copied reply that is still streaming here.
        status = self.Status.INTERRUPTED if self.is_streaming else self.status
        return Message.objects.create(
            conversation=conversation,
            parent=parent,
            author_id=self.author_id,
            role=self.role,
            status=status,
            content=self.content,
            reasoning=self.reasoning,
            html=self.html,
            model=self.model,
            finish_reason=self.finish_reason,
            error=self.error,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            ttft_ms=self.ttft_ms,
            duration_ms=self.duration_ms,
            params=self.params,
        )


def _attachment_path(instance: Attachment, filename: str) -> str:
    """Stored under a random name in a folder per month: the uploader's file name is shown
    (escaped), never used as a path."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    if not extension.isalnum() or len(extension) > 5:
        extension = "bin"
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{extension}"


class Attachment(models.Model):
    """A file that goes with a message: an image a member attached for a model that can see, a
    voice recording or an audio file, or a copy of a file a reply linked to (gpt-4-all).

    Uploaded before its message exists (`message` NULL until the message is sent, then set);
    it belongs to its conversation, so it is served only to those who may see that
    conversation (loaded through accounts.access with the conversation). The stored file and
    thumbnail go when the row goes (chat.signals)."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        AUDIO = "audio", _("Audio")
        FILE = "file", _("File")

    conversation = models.ForeignKey(
        Conversation, models.CASCADE, related_name="attachments", verbose_name=_("conversation")
    )
    message = models.ForeignKey(
        Message,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
        verbose_name=_("message"),
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=_attachment_path, max_length=300)
    thumbnail = models.FileField(
        _("thumbnail"), upload_to=_attachment_path, max_length=300, blank=True
    )
    # Decided from the bytes, never from the browser's word or the file name.
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    # The name the member's file had (or a link's last path segment): shown, escaped.
    name = models.CharField(_("name"), max_length=255, blank=True)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # For a copy of a file a reply linked to: where it came from.
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["message", "position", "pk"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.name or self.pk}"


class PersonalFiling(models.Model):
    """A conversation one person filed for themselves (pinned, archived): one row per person
    and conversation; reading the conversation is enough."""

    VERB = ""  # how __str__ says it

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="%(class)ss",
        verbose_name=_("user"),
    )
    conversation = models.ForeignKey(
        Conversation, models.CASCADE, related_name="%(class)ss", verbose_name=_("conversation")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="unique_%(class)s"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation} {self.VERB} by {self.user}"


class Pin(PersonalFiling):
    """A conversation pinned by one person, for themselves."""

    VERB = "pinned"

    class Meta(PersonalFiling.Meta):
        verbose_name = _("pin")
        verbose_name_plural = _("pins")

    @classmethod
    def toggle(cls, *, user, conversation: Conversation) -> bool:
        """Pin the conversation for `user`, or unpin it if they had; True if now pinned."""
        deleted, _rows = cls.objects.filter(user=user, conversation=conversation).delete()
        if deleted:
            return False
        cls.objects.get_or_create(user=user, conversation=conversation)
        return True


class Archive(PersonalFiling):
    """A conversation one person put away, for themselves: it leaves their sidebar list and
    still opens by its URL and in search."""

    VERB = "archived"

    class Meta(PersonalFiling.Meta):
        verbose_name = _("archived conversation")
        verbose_name_plural = _("archived conversations")

    @classmethod
    def set(cls, *, user, conversation: Conversation, archived: bool) -> None:
        if archived:
            cls.objects.get_or_create(user=user, conversation=conversation)
        else:
            cls.objects.filter(user=user, conversation=conversation).delete()


class Folder(models.Model):
    """One person's folder of conversations in one team: nobody else sees it. Deleting it
    deletes only the filing (FolderItem), never a conversation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="folders", verbose_name=_("user")
    )
    team = models.ForeignKey(
        "accounts.Team", models.CASCADE, related_name="+", verbose_name=_("team")
    )
    name = models.CharField(_("name"), max_length=80)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("folder")
        verbose_name_plural = _("folders")
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["user", "team"])]

    def __str__(self) -> str:
        return self.name


class FolderItem(models.Model):
    """Where one person filed a conversation: at most one folder each, per person."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="+", verbose_name=_("user")
    )
    conversation = models.ForeignKey(
        Conversation, models.CASCADE, related_name="folder_items", verbose_name=_("conversation")
    )
    folder = models.ForeignKey(
        Folder, models.CASCADE, related_name="items", verbose_name=_("folder")
    )

    class Meta:
        verbose_name = _("conversation in a folder")
        verbose_name_plural = _("conversations in folders")
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="unique_folder_item"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation} in {self.folder}"

    @classmethod
    def place(cls, *, user, conversation: Conversation, folder: Folder | None) -> None:
        """File the conversation in `folder` for `user`, or take it out of any (None)."""
        if folder is None:
            cls.objects.filter(user=user, conversation=conversation).delete()
            return
        cls.objects.update_or_create(
            user=user, conversation=conversation, defaults={"folder": folder}
        )


def _new_public_token() -> str:
    # 256 random bits: a link cannot be guessed, so it is stored as it is and shown again.
    return secrets.token_urlsafe(32)


class PublicLinkQuerySet(models.QuerySet["PublicLink"]):
    def live(self) -> PublicLinkQuerySet:
        """Not revoked, its team still allows public links, and its creator may still write
        the conversation (a writing member of its team): the one definition of a working link."""
        writer = Membership.objects.filter(
            team_id=models.OuterRef("conversation__team_id"),
            user_id=models.OuterRef("conversation__created_by_id"),
            role__in=Membership.WRITING_ROLES,
        )
        return self.filter(
            revoked_at__isnull=True,
            conversation__team__allow_public_links=True,
        ).filter(models.Exists(writer))


class PublicLink(models.Model):
    """A revocable link anyone may open to read a conversation's current thread, without
    signing in (chat.views_public). Made and revoked by the conversation's creator; all of a
    team's links stop working while the team's owner has public links turned off."""

    conversation = models.ForeignKey(
        Conversation, models.CASCADE, related_name="public_links", verbose_name=_("conversation")
    )
    token = models.CharField(
        _("token"), max_length=64, unique=True, default=_new_public_token, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = PublicLinkQuerySet.as_manager()

    class Meta:
        verbose_name = _("public link")
        verbose_name_plural = _("public links")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_public_link",
            ),
        ]

    def __str__(self) -> str:
        return f"Public link to {self.conversation_id}"

    def get_absolute_url(self) -> str:
        return reverse("chat:public", args=[self.token])


def _gpt_icon_path(instance: GPT, filename: str) -> str:
    return f"gpt-icons/{uuid.uuid4().hex}.png"


class GPTQuerySet(models.QuerySet):
    def for_team(self, team_id: int | None) -> GPTQuerySet:
        return self.filter(team_id=team_id)

    def named_by_model(self, team_id: int | None) -> dict[str, GPT]:
        """The team's GPTs by the model id that asks for them (gpt-4-gizmo-<g-id>)."""
        return {gpt.model_id: gpt for gpt in self.for_team(team_id)}


class GPT(models.Model):
    """A ChatGPT GPT a team offers as a chat model: the gateway serves it as
    `gpt-4-gizmo-<g-id>` (docs/gateway-api.md, "Streaming"). Team-wide, added and removed by
    the team's owners (chat.views_gpts); the model picker shows it by name, in its own group."""

    MODEL_PREFIX = "gpt-4-gizmo-"

    team = models.ForeignKey(
        "accounts.Team", models.CASCADE, related_name="gpts", verbose_name=_("team")
    )
    # The id ChatGPT gives a GPT, "g-" and letters and digits (from its URL).
    gizmo_id = models.CharField(_("GPT id"), max_length=64)
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # A small square PNG made from the uploaded picture (chat.forms.GPTForm), or none.
    icon = models.FileField(_("icon"), upload_to=_gpt_icon_path, max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = GPTQuerySet.as_manager()

    class Meta:
        verbose_name = _("GPT")
        verbose_name_plural = _("GPTs")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["team", "gizmo_id"], name="unique_gpt_per_team"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def model_id(self) -> str:
        return f"{self.MODEL_PREFIX}{self.gizmo_id}"


def vision_rule(rules: Iterable[VisionModel], model: str) -> VisionModel | None:
    """The row of `rules` that decides for `model`: the longest pattern that matches it (so
    "gpt-4o-audio*" can say no where "gpt-4o*" says yes), or None."""
    name = (model or "").strip().lower()
    matches = [row for row in rules if fnmatchcase(name, row.pattern.strip().lower())]
    return max(matches, key=lambda row: len(row.pattern), default=None)


def sees_images(rules: Iterable[VisionModel], model: str) -> bool:
    rule = vision_rule(rules, model)
    return rule is not None and rule.sees


class VisionModelQuerySet(models.QuerySet["VisionModel"]):
    def can_see(self, model: str) -> bool:
        """Whether `model` can see images (one query)."""
        return sees_images(self, model)


class VisionModel(models.Model):
    """Which models can see images: a pattern of model names (fnmatch, case-insensitive:
    "gpt-4o*", "*-all") and whether they see. Edited by the site admin; seeded with defaults
    by a data migration. The longest matching pattern decides; no match means no images."""

    pattern = models.CharField(
        _("model name pattern"),
        max_length=200,
        unique=True,
        help_text=_('A model name, or a pattern with * and ?, e.g. "gpt-4o*" or "*-all".'),
    )
    sees = models.BooleanField(
        _("can see images"),
        default=True,
        help_text=_("Untick to make an exception to a broader pattern."),
    )
    url_in_text = models.BooleanField(
        _("image links in the text"),
        default=False,
        help_text=_(
            "For gateways whose -all models read a link put in the message instead of an "
            "attached image. Works only when the gateway can reach PUBLIC_URL."
        ),
    )

    objects = VisionModelQuerySet.as_manager()

    class Meta:
        verbose_name = _("vision model")
        verbose_name_plural = _("vision models")
        ordering = ["pattern"]

    def __str__(self) -> str:
        return self.pattern


class ServingProcess(models.Model):
    """A web process that writes replies, alive while it beats (chat.liveness): its `id` is
    the process's, `beat_at` renewed every few seconds. A reply whose owner has not beaten
    for chat.liveness.STALE_SECONDS is ended by the other processes."""

    id = models.CharField(primary_key=True, max_length=32)
    host = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.host}:{self.pid} ({self.id})"


class MessageEmbedding(models.Model):
    """A message's vector for search by meaning (chat.search), written by
    chat.embedding_worker: `dims` float32 numbers, little-endian, in `vector`, made by
    `model`. One per message: a row of another model than settings.EMBEDDING_MODEL is
    replaced when the worker reaches it. `team` and `conversation` repeat the message's, so
    the scan filters without a join."""

    message = models.OneToOneField(
        Message, models.CASCADE, related_name="embedding", verbose_name=_("message")
    )
    team = models.ForeignKey(
        "accounts.Team", models.CASCADE, related_name="+", verbose_name=_("team")
    )
    conversation = models.ForeignKey(
        Conversation, models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    model = models.CharField(_("model"), max_length=200)
    dims = models.PositiveIntegerField(_("dimensions"))
    vector = models.BinaryField(_("vector"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("message embedding")
        verbose_name_plural = _("message embeddings")
        indexes = [models.Index(fields=["team", "model", "dims"], name="chat_embedding_scan")]

    def __str__(self) -> str:
        return f"{self.model} ({self.dims}) of message {self.message_id}"


def _speech_path(instance: SpeechClip, filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    if not extension.isalnum() or len(extension) > 5:
        extension = "bin"
    return f"speech/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{extension}"


class SpeechClip(models.Model):
    """The audio of one part of a reply read aloud (chat.speech), kept per message, voice,
    speed, model and text, so the same part is never bought twice. A clip without a message
    is a voice sample for the Settings page, shared by everyone.

    `pending` while the gateway is sending it (the row is the lock: a second request for the
    same part waits for it instead of buying it again), `ready` once stored, `failed` with the
    gateway's error (shown; the next request tries again)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    message = models.ForeignKey(
        Message,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="speech_clips",
        verbose_name=_("message"),
    )
    voice = models.CharField(_("voice"), max_length=20)
    speed = models.DecimalField(_("speed"), max_digits=3, decimal_places=2)
    model = models.CharField(_("model"), max_length=200)
    # What was read: the hash of the part's text (its index can change with the splitting).
    digest = models.CharField(_("text digest"), max_length=64)
    index = models.PositiveSmallIntegerField(_("part"), default=0)
    characters = models.PositiveIntegerField(_("characters"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    error = models.CharField(_("error"), max_length=500, blank=True)
    file = models.FileField(_("file"), upload_to=_speech_path, max_length=300, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    # The charge of the purchase in flight or done (usage.services), for the sweep.
    record = models.ForeignKey(
        "usage.UsageRecord", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("speech clip")
        verbose_name_plural = _("speech clips")
        constraints = [
            models.UniqueConstraint(
                fields=["message", "voice", "speed", "model", "digest"],
                condition=models.Q(message__isnull=False),
                name="unique_speech_clip",
            ),
            models.UniqueConstraint(
                fields=["voice", "speed", "model", "digest"],
                condition=models.Q(message__isnull=True),
                name="unique_speech_sample",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.voice} {self.speed} #{self.index} of {self.message_id or 'sample'}"


class Feedback(models.Model):
    """One reader's thumbs up or down on a complete assistant reply, with an optional note:
    one per user and message, changed or removed by that user (chat.feedback). The team's
    reviewers (site admins and owners) read it on the usage page."""

    class Rating(models.TextChoices):
        UP = "up", _("Good reply")
        DOWN = "down", _("Bad reply")

    NOTE_MAX_CHARS = 500

    message = models.ForeignKey(
        Message, models.CASCADE, related_name="feedback", verbose_name=_("message")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="+", verbose_name=_("user")
    )
    rating = models.CharField(_("rating"), max_length=4, choices=Rating.choices)
    note = models.CharField(_("note"), max_length=NOTE_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="one_feedback_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.rating} on {self.message_id} by {self.user_id}"
