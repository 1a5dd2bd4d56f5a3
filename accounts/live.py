"""Generic live events for open websockets, usable by any app (accounts imports no other app).

Groups: a conversation's tabs (`Conversation.group_name`), a team's tabs (`team_group`) and a
user's tabs (`user_group`); every chat socket is in all three. Two events:

- ACCESS_CHANGED: sharing, membership or role changed, or the conversation is gone; each
  socket re-checks its access and closes if it lost it (`access_changed`).
- FRAGMENT_PUSH: a rendered HTML fragment (hx-swap-oob elements) the socket sends down as is
  (`push_fragment`, `apush_fragment`), e.g. a media job's card pushed from a worker process.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

ACCESS_CHANGED = "access.changed"
FRAGMENT_PUSH = "fragment.push"

# Close codes of a socket told ACCESS_CHANGED (the 4000s are the application's): the session
# behind it ended (logout, password change, deactivation), or the user may no longer see what
# it shows (removed from the team, the conversation unshared or gone). Neither is one htmx's
# websocket extension reconnects after.
CLOSE_SESSION_ENDED = 4401
CLOSE_ACCESS_LOST = 4403


def user_group(user_id: int) -> str:
    return f"user_{user_id}"


def team_group(team_id: int) -> str:
    return f"team_{team_id}"


def access_changed(group_name: str) -> None:
    """Tell every socket in the group to reload its access, closing those that lost it."""
    async_to_sync(get_channel_layer().group_send)(group_name, {"type": ACCESS_CHANGED})


def push_fragment(group_name: str, html: str) -> None:
    """Send a rendered fragment to every tab in the group; from sync code (a view, a worker).

    The sockets send `html` unchanged and check nothing: push to a group only what every
    member of it may see. A team group holds every member's tabs, viewers included; a private
    object's fragment goes to its creator's `user_group`, never to the team's.
    """
    async_to_sync(apush_fragment)(group_name, html)


async def apush_fragment(group_name: str, html: str) -> None:
    """`push_fragment` from async code; the same rule: only what every member may see."""
    await get_channel_layer().group_send(group_name, {"type": FRAGMENT_PUSH, "html": html})
