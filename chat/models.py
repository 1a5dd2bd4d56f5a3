from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def visible_to(self, user, team) -> ConversationQuerySet:
        """Conversations of `team` that `user` may read: their own, and shared ones."""
        return self.filter(team=team).filter(models.Q(created_by=user) | models.Q(is_shared=True))

    def sidebar_order(self) -> ConversationQuerySet:
        return self.order_by("-is_pinned", "-updated_at")

    def search(self, q: str) -> ConversationQuerySet:
        """Conversations whose title or any message contains `q`; all of them for a blank `q`."""
        q = q.strip()
        if not q:
            return self
        return self.filter(
            models.Q(title__icontains=q) | models.Q(messages__content__icontains=q)
        ).distinct()


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts.Team", models.CASCADE, related_name="conversations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="conversations"
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    model = models.CharField(_("model"), max_length=200, blank=True)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    is_shared = models.BooleanField(_("shared with team"), default=False)
    is_pinned = models.BooleanField(_("pinned"), default=False)
    # The message at the end of the branch currently shown (edits and regenerations fork).
    current_leaf = models.ForeignKey(
        "Message", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    forked_from = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="forks"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [models.Index(fields=["team", "created_by", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or str(_("New chat"))

    def get_absolute_url(self) -> str:
        return reverse("chat:conversation", args=[self.pk])

    @property
    def group_name(self) -> str:
        return f"conversation_{self.id.hex}"


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

    conversation = models.ForeignKey(Conversation, models.CASCADE, related_name="messages")
    # Previous message in the thread; siblings (same parent) are alternative versions.
    parent = models.ForeignKey(
        "self", models.CASCADE, null=True, blank=True, related_name="children"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE)
    content = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    # Sanitised HTML rendered once when the message completes.
    html = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

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
        )
