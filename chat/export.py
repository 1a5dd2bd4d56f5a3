"""A conversation as a download (Markdown or JSON), and a whole team's conversations as one
streamed JSON document for the admin.

Both describe the thread shown now (the path to `current_leaf`): each message with its role,
author, model, time, status and content, and which version it is among its siblings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Team
from chat.models import Conversation, Message
from chat.signals import content_viewed
from chat.threads import MessageTree, ThreadItem

FILENAME_CHARS = 80
# Conversations (with all their messages) loaded per query while streaming a team's export.
TEAM_BATCH = 50


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def message_data(item: ThreadItem) -> dict[str, Any]:
    message = item.message
    return {
        "id": message.pk,
        "role": message.role,
        "author": _username(message.author) if message.author_id else None,
        "model": message.model,
        "created_at": _time(message.created_at),
        "status": message.status,
        "content": message.content,
        "reasoning": message.reasoning,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "ttft_ms": message.ttft_ms,
        "duration_ms": message.duration_ms,
        "version": item.index,
        "versions": item.count,
    }


def conversation_data(
    conversation: Conversation, messages: Iterable[Message] | None = None
) -> dict[str, Any]:
    """The conversation as plain data. `messages`: all of its messages, authors loaded (one
    query of its own when not given)."""
    if messages is None:
        tree = MessageTree.for_conversation(conversation)
    else:
        tree = MessageTree(list(messages))
    return {
        "id": str(conversation.pk),
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "temperature": conversation.temperature,
        "created_by": _username(conversation.created_by),
        "shared": conversation.is_shared,
        "created_at": _time(conversation.created_at),
        "updated_at": _time(conversation.updated_at),
        "messages": [message_data(item) for item in tree.thread(conversation.current_leaf_id)],
    }


def to_json(conversation: Conversation) -> str:
    return json.dumps(conversation_data(conversation), ensure_ascii=False, indent=2)


def to_markdown(conversation: Conversation) -> str:
    data = conversation_data(conversation)
    lines = [f"# {data['title'] or _('New chat')}", ""]
    lines.append(f"- {_('Model')}: {data['model'] or '—'}")
    lines.append(f"- {_('Created')}: {data['created_at']}")
    lines.append(f"- {_('Updated')}: {data['updated_at']}")
    if data["system_prompt"]:
        lines += ["", f"## {_('System prompt')}", "", data["system_prompt"]]
    for message in data["messages"]:
        if message["role"] == Message.Role.USER:
            who = message["author"] or _("User")
        else:
            who = _("Assistant") + (f" ({message['model']})" if message["model"] else "")
        facts = [message["created_at"] or ""]
        if message["status"] != Message.Status.COMPLETE:
            facts.append(message["status"])
        if message["versions"] > 1:
            facts.append(
                _("version %(index)d of %(count)d")
                % {"index": message["version"], "count": message["versions"]}
            )
        lines += ["", f"## {who}", "", f"*{' · '.join(f for f in facts if f)}*", ""]
        lines.append(message["content"])
    return "\n".join(lines).rstrip() + "\n"


def filename(conversation: Conversation, extension: str) -> str:
    """A download name from the title, safe characters only ("conversation" if none)."""
    stem = slugify(conversation.title)[:FILENAME_CHARS].strip("-_") or "conversation"
    return f"{stem}.{extension}"


# A whole team, streamed


def _team_batch(team_id: int, after: Any) -> tuple[list[dict[str, Any]], Any]:
    """The next TEAM_BATCH conversations of the team (by id) as data, and the last id."""
    conversations = Conversation.objects.filter(team_id=team_id).select_related("created_by")
    if after is not None:
        conversations = conversations.filter(pk__gt=after)
    batch = list(conversations.order_by("pk")[:TEAM_BATCH])
    by_conversation: dict[Any, list[Message]] = defaultdict(list)
    messages = Message.objects.filter(conversation__in=batch).select_related("author")
    for message in messages:
        by_conversation[message.conversation_id].append(message)
    data = [conversation_data(c, by_conversation[c.pk]) for c in batch]
    return data, (batch[-1].pk if batch else None)


async def team_json(teams: list[Team]) -> AsyncIterator[str]:
    """{"teams": [{"id", "name", "conversations": [...]}, ...]}, in pieces: one batch of
    conversations in memory at a time, loaded off the event loop."""
    yield '{"teams": ['
    for t, team in enumerate(teams):
        head = json.dumps({"id": team.pk, "name": team.name}, ensure_ascii=False)[:-1]
        yield ("," if t else "") + head + ', "conversations": ['
        after, first = None, True
        while True:
            data, after = await sync_to_async(_team_batch)(team.pk, after)
            for conversation in data:
                yield ("" if first else ",") + json.dumps(conversation, ensure_ascii=False)
                first = False
            if len(data) < TEAM_BATCH:
                break
        yield "]}"
    yield "]}\n"


def may_export(modeladmin: admin.ModelAdmin, request: HttpRequest) -> bool:
    """Only site admins (superusers) export teams: the export holds private conversations,
    which staff with a mere view permission on teams must not read."""
    return bool(request.user.is_active and request.user.is_superuser)


@admin.action(description=gettext_lazy("Export conversations as JSON"), permissions=["export"])
def export_teams_json(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Team]
) -> StreamingHttpResponse:
    """The Team admin's action (chat.admin adds it: accounts imports no other app): every
    conversation of the selected teams, streamed a batch at a time."""
    teams = list(queryset.order_by("pk"))
    for team in teams:  # whole conversations of every member: audited, one entry a team
        content_viewed.send(
            sender=Team, request=request, obj=team, owner=None,
            action="admin: export team conversations", target=f"team {team.pk}: {team.name}",
        )  # fmt: skip
    response = StreamingHttpResponse(
        team_json(teams), content_type="application/json; charset=utf-8"
    )
    name = "teams" if len(teams) != 1 else f"team-{teams[0].pk}"
    response["Content-Disposition"] = f'attachment; filename="{name}-conversations.json"'
    return response
