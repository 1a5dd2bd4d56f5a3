"""chat's thread-item hook (chat.threads): other apps' items merged with the messages in the
order things happened, and chat's templates naming no other app's template or tag library."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from chat.models import Message
from chat.threads import ExtraItem, ThreadItem, merge

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 1, 1, 12, 0)


def _item(pk: int, minute: int) -> ThreadItem:
    message = Message(pk=pk, role=Message.Role.USER, content=f"m{pk}")
    message.created_at = T0 + timedelta(minutes=minute)
    return ThreadItem(message, [pk])


def _extra(name: str, minute: float, after: int | None = None) -> ExtraItem:
    created = T0 + timedelta(minutes=minute)
    return ExtraItem(created_at=created, template_name=name, after_message_id=after)


def _names(entries) -> list[str]:
    return [e.template_name or f"m{e.message.pk}" for e in entries]


def test_items_go_after_their_message_or_at_their_time():
    thread = [_item(1, 0), _item(2, 10), _item(3, 20)]
    extras = [
        _extra("late", 30),  # after everything
        _extra("between", 15),  # after m2, before m3
        _extra("of-m1", 1, after=1),  # right after m1
        _extra("early", -5),  # before the first message
        _extra("second-of-m1", 2, after=1),
    ]

    merged = merge(thread, extras)

    assert _names(merged) == [
        "early", "m1", "of-m1", "second-of-m1", "m2", "between", "m3", "late",
    ]  # fmt: skip


def test_an_item_of_a_message_on_another_branch_is_not_shown():
    thread = [_item(1, 0), _item(3, 20)]  # m2 is a sibling version, not on this path

    assert _names(merge(thread, [_extra("of-m2", 11, after=2)])) == ["m1", "m3"]


def test_a_thread_without_items_is_its_messages():
    thread = [_item(1, 0), _item(2, 1)]
    assert merge(thread, []) == thread
    assert merge([], [_extra("alone", 0)])[0].template_name == "alone"


def test_chat_templates_name_no_template_or_tag_library_of_another_app():
    """chat shows other apps' markup only through the hook: the template an item names."""
    for path in (ROOT / "templates" / "chat").rglob("*.html"):
        text = path.read_text()
        assert "media_jobs" not in text and "usage/" not in text, path.name
