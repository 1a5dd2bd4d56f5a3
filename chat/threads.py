"""Conversations are trees: editing or regenerating a message adds a sibling version.

The thread shown is the path from the root to `conversation.current_leaf`. Everything here
works on one list of messages loaded in a single query.

The chat page / websocket / template contract shared by the views, the consumer and the
front end is in docs/chat-contract.md (read it before changing templates/chat/).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404

from accounts.access import clean_id
from chat.models import Conversation, Message


@dataclass
class ThreadItem:
    message: Message
    sibling_ids: list[int] = field(default_factory=list)

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
        # Authors come in the same query: user messages show their author's name.
        return cls(list(conversation.messages.select_related("author")))

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


def build_thread(conversation: Conversation) -> list[ThreadItem]:
    return MessageTree.for_conversation(conversation).thread(conversation.current_leaf_id)
