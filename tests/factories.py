"""make_* helpers for tests: explicit objects with sensible defaults."""

from __future__ import annotations

from accounts.models import Membership, Team, User
from chat.models import Conversation, Message, Pin
from media_jobs.models import MediaJob

PASSWORD = "correct-horse-battery"


def make_user(username: str, *, password: str = PASSWORD, **extra) -> User:
    return User.objects.create_user(username=username, password=password, **extra)


def make_team(name: str = "Acme", *, owner: User | None = None) -> Team:
    team = Team.objects.create(name=name)
    if owner is not None:
        make_membership(team, owner, Membership.Role.OWNER)
    return team


def make_membership(team: Team, user: User, role: str = Membership.Role.MEMBER) -> Membership:
    return Membership.objects.create(team=team, user=user, role=role)


def make_conversation(team: Team, user: User, **extra) -> Conversation:
    extra.setdefault("title", "Test chat")
    extra.setdefault("model", "gpt-4o-mini")
    return Conversation.objects.create(team=team, created_by=user, **extra)


def row_of(obj) -> dict:
    """Every stored field of `obj`, read again from the database: compare before and after
    a refused write to prove it changed nothing."""
    return type(obj).objects.filter(pk=obj.pk).values().get()


def make_pin(conversation: Conversation, user: User) -> Pin:
    return Pin.objects.create(conversation=conversation, user=user)


def make_message(
    conversation: Conversation,
    *,
    role: str = Message.Role.USER,
    content: str = "Hello",
    parent: Message | None = None,
    **extra,
) -> Message:
    message = Message.objects.create(
        conversation=conversation, role=role, content=content, parent=parent, **extra
    )
    conversation.current_leaf = message
    conversation.save(update_fields=["current_leaf", "updated_at"])
    return message


def make_job(team: Team, user: User, **extra) -> MediaJob:
    extra.setdefault("kind", MediaJob.Kind.MIDJOURNEY)
    extra.setdefault("action", "IMAGINE")
    extra.setdefault("prompt", "a lighthouse at dusk")
    return MediaJob.objects.create(team=team, created_by=user, **extra)
