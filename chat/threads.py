"""Conversations are trees: editing or regenerating a message adds a sibling version.

The thread shown is the path from the root to `conversation.current_leaf`. Everything here
works on one list of messages loaded in a single query.

The chat page / websocket / template contract shared by the views, the consumer and the
front end is in docs/chat-contract.md (read it before changing templates/chat/).

Other apps add their own items to the thread (media jobs' cards) through one documented hook,
`register_items(provider)`: chat imports none of them and includes none of their templates by
name; each ExtraItem names the template that renders it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Subquery, Sum, prefetch_related_objects
from django.http import Http404

from accounts.access import clean_id
from accounts.models import Membership, User
from chat.models import Attachment, Conversation, Message
from usage.models import UsageRecord


@dataclass
class ThreadItem:
    message: Message
    sibling_ids: list[int] = field(default_factory=list)
    # The thread partial renders a ThreadItem as a message, an ExtraItem by its template.
    template_name = ""

    @property
    def author_name(self) -> str:
        """The user message's author as teammates see them ("Name (username)" or the
        username), or "" when unknown. Reads only an author loaded with the message (the
        partial is rendered from async code): every loader of a thread select_related()s it."""
        message = self.message
        if message.author_id is None or not Message.author.is_cached(message):
            return ""
        return message.author.shown_name if message.author else ""

    @property
    def images(self) -> list:
        """The images attached to a user message, if loaded with it (chat.attachments.loaded:
        never a query, the partial is rendered from async code)."""
        from chat.attachments import loaded

        if self.message.role != Message.Role.USER:
            return []
        return [a for a in loaded(self.message) if a.kind == "image"]

    @property
    def attachments(self) -> list[Any]:
        """All the message's attachments loaded with it (recordings, images); never a query."""
        from chat.attachments import loaded

        return loaded(self.message)

    @property
    def feedback(self) -> Any:
        """The viewer's Feedback on this reply, if chat.feedback.attach loaded it; else None."""
        return getattr(self.message, "my_feedback", None)

    @property
    def rateable(self) -> bool:
        return (
            self.message.role == Message.Role.ASSISTANT
            and self.message.status == Message.Status.COMPLETE
        )

    @property
    def cost(self) -> Any:
        """What the reply cost: its settled charges' sum (Decimal), loaded with it
        (settled_cost: MessageTree.for_conversation, or set after the charge); None while
        it is reserved or was never charged."""
        return getattr(self.message, "settled_cost", None)

    @property
    def currency(self) -> str:
        return settings.USAGE_CURRENCY

    @property
    def count(self) -> int:
        return len(self.sibling_ids)

    @property
    def index(self) -> int:
        """1-based position of this version among its siblings."""
        return self.sibling_ids.index(self.message.pk) + 1

    @property
    def prev_id(self) -> int | None:
        i = self.index - 1
        return self.sibling_ids[i - 1] if i > 0 else None

    @property
    def next_id(self) -> int | None:
        i = self.index - 1
        return self.sibling_ids[i + 1] if i + 1 < self.count else None


class MessageTree:
    def __init__(self, messages: list[Message]) -> None:
        self.by_id = {m.pk: m for m in messages}
        self.children: dict[int | None, list[Message]] = defaultdict(list)
        for m in messages:
            self.children[m.parent_id].append(m)
        for siblings in self.children.values():
            siblings.sort(key=lambda m: (m.created_at, m.pk))

    @classmethod
    def for_conversation(cls, conversation: Conversation) -> MessageTree:
        # Authors come in the same query: user messages show their author's name. Attachments
        # (recordings, images) in one more query, only when some message has any.
        has_attachments = Attachment.objects.filter(message=OuterRef("pk"))
        messages: list[Message] = list(
            conversation.messages.select_related("author").annotate(
                has_attachments=Exists(has_attachments), settled_cost=settled_cost()
            )
        )
        with_files = [m for m in messages if getattr(m, "has_attachments", False)]
        if with_files:
            prefetch_related_objects(with_files, "attachments")
        return cls(messages)

    def get(self, message_id: Any) -> Message:
        """A message of this conversation by an id from a request, with no further query;
        Http404 for any other id (the conversation was loaded through accounts.access)."""
        message = self.by_id.get(clean_id(Message, message_id))
        if message is None:
            raise Http404
        return message

    def leaf_under(self, message: Message) -> Message:
        """The newest branch's end below `message` (itself if it has no children)."""
        while self.children.get(message.pk):
            message = self.children[message.pk][-1]
        return message

    def path_to(self, leaf_id: int | None) -> list[Message]:
        leaf = self.by_id.get(leaf_id) if leaf_id is not None else None
        if leaf is None:
            roots = self.children.get(None)
            if not roots:
                return []
            leaf = self.leaf_under(roots[-1])
        path = []
        node: Message | None = leaf
        while node is not None:
            path.append(node)
            node = self.by_id.get(node.parent_id) if node.parent_id else None
        path.reverse()
        return path

    def thread(self, leaf_id: int | None) -> list[ThreadItem]:
        return [
            ThreadItem(m, [s.pk for s in self.children[m.parent_id]]) for m in self.path_to(leaf_id)
        ]


def settled_cost() -> Subquery:
    """The Subquery of a message's settled charges' sum (None without any), for annotate()."""
    settled = UsageRecord.objects.filter(
        message=OuterRef("pk"), status=UsageRecord.Status.SETTLED
    ).order_by()
    return Subquery(settled.values("message").annotate(total=Sum("cost")).values("total")[:1])


def reply_costs(message_ids: list[int]) -> dict[int, Any]:
    """settled_cost of messages just charged (chat.services.finish_replies), in one query, by
    id; a message without a settled charge is left out (its cost is None)."""
    settled = UsageRecord.objects.filter(
        message_id__in=message_ids, status=UsageRecord.Status.SETTLED
    ).order_by()
    return dict(
        settled.values("message").annotate(total=Sum("cost")).values_list("message", "total")
    )


def build_thread(conversation: Conversation) -> list[ThreadItem]:
    return MessageTree.for_conversation(conversation).thread(conversation.current_leaf_id)


# The thread-item hook: other apps' items shown in the thread, in time order with the messages.


@dataclass(frozen=True)
class ExtraItem:
    """Something another app shows in the thread (a media job's card).

    `template_name` is included with the thread's context plus `item` (this object; the
    template reads its own data from `item.context`). It is rendered from async code too (a
    thread frame), so `context` holds everything loaded: the template must not query.
    `after_message_id`: the message it belongs right after (it is hidden while that message
    is on another branch); None places it by `created_at` among the messages."""

    created_at: datetime
    template_name: str
    context: dict[str, Any] = field(default_factory=dict)
    after_message_id: int | None = None


# (user, membership, conversation, messages of the shown thread) -> the provider's items.
ItemProvider = Callable[[User, Membership | None, Conversation, list[Message]], list[ExtraItem]]

_providers: list[ItemProvider] = []


def register_items(provider: ItemProvider) -> None:
    """Add a provider of thread items (at start-up, from the other app's AppConfig.ready).
    A provider loads its items in a fixed number of queries, whatever their number."""
    if provider not in _providers:
        _providers.append(provider)


def unregister_items(provider: ItemProvider) -> None:
    if provider in _providers:
        _providers.remove(provider)


def extra_items(
    user: User,
    membership: Membership | None,
    conversation: Conversation,
    thread: list[ThreadItem],
) -> list[ExtraItem]:
    """Every provider's items for `user` on this thread (sync: providers query)."""
    messages = [item.message for item in thread]
    return [extra for p in _providers for extra in p(user, membership, conversation, messages)]


def load_extra_items(
    user: User, conversation: Conversation, thread: list[ThreadItem]
) -> list[ExtraItem]:
    """extra_items for a caller without the membership (the socket): loads it only if some
    provider is registered, so chat alone costs no query."""
    if not _providers:
        return []
    membership = Membership.objects.filter(user=user, team_id=conversation.team_id).first()
    return extra_items(user, membership, conversation, thread)


def merge(thread: list[ThreadItem], extras: list[ExtraItem]) -> list[ThreadItem | ExtraItem]:
    """The thread's messages and the extra items in the order they happened: an item with
    `after_message_id` right after that message (dropped when the message is not on the
    shown path), the others by `created_at` among the messages (ties: the message first)."""
    on_path = {item.message.pk for item in thread}
    anchored: dict[int, list[ExtraItem]] = defaultdict(list)
    loose: list[ExtraItem] = []
    for extra in sorted(extras, key=lambda e: e.created_at):
        if extra.after_message_id is None:
            loose.append(extra)
        elif extra.after_message_id in on_path:
            anchored[extra.after_message_id].append(extra)
    merged: list[ThreadItem | ExtraItem] = []
    next_loose = 0
    for item in thread:
        while next_loose < len(loose) and loose[next_loose].created_at < item.message.created_at:
            merged.append(loose[next_loose])
            next_loose += 1
        merged.append(item)
        merged.extend(anchored.get(item.message.pk, ()))
    merged.extend(loose[next_loose:])
    return merged


def thread_entries(
    user: User, membership: Membership | None, conversation: Conversation, thread: list[ThreadItem]
) -> list[ThreadItem | ExtraItem]:
    """The thread as the page shows it: messages and every provider's items, merged."""
    return merge(thread, extra_items(user, membership, conversation, thread))
