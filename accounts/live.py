"""Open websockets re-check their access when it may have changed: a conversation unshared
or deleted, a member removed or given another role."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def user_group(user_id: int) -> str:
    return f"user_{user_id}"


def access_changed(group_name: str) -> None:
    """Tell every socket in the group to reload its access, closing those that lost it."""
    async_to_sync(get_channel_layer().group_send)(group_name, {"type": "access.changed"})
