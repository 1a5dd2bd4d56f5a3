"""The gallery's websocket: joins the user's and their teams' groups and forwards the
fragments media_jobs.live pushes (cards, as hx-get stubs each tab loads for itself).

Told access changed (accounts.signals: logout, password change, deactivation, a membership
changed or deleted), it re-checks the session and the teams it joined, and closes when either
is gone, so a team's job notices stop reaching someone no longer in it."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.live import CLOSE_ACCESS_LOST, CLOSE_SESSION_ENDED, team_group, user_group
from accounts.models import Membership
from chat.sessions import SessionEnded, check_session


def _team_ids(user_id: int) -> list[int]:
    return list(Membership.objects.filter(user_id=user_id).values_list("team_id", flat=True))


def _team_ids_if_session(session_key: str, user_id: int) -> list[int]:
    """The user's teams now; SessionEnded when the socket's session is no longer valid."""
    return _team_ids(check_session(session_key, user_id).pk)


class MediaConsumer(AsyncWebsocketConsumer):
    groups_joined: list[str]
    team_ids: frozenset[int] = frozenset()
    session_key: str = ""

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        # Checked again on access.changed; "" (no session) never passes.
        self.session_key = self.scope["session"].session_key or ""
        team_ids = await database_sync_to_async(_team_ids)(user.pk)
        self.team_ids = frozenset(team_ids)
        self.groups_joined = [user_group(user.pk), *(team_group(t) for t in team_ids)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return  # the page sends nothing; forms post over HTTP

    async def fragment_push(self, event: dict[str, Any]) -> None:
        """Sent as is: the pusher decided every member of the group may see it."""
        await self.send(text_data=event["html"])

    async def access_changed(self, event: dict[str, Any]) -> None:
        """Close when the session ended or a team this socket follows is no longer the
        user's (the page reconnects to the teams it has then); a team joined is followed."""
        try:
            team_ids = frozenset(
                await database_sync_to_async(_team_ids_if_session)(
                    self.session_key, self.scope["user"].pk
                )
            )
        except SessionEnded:
            await self._end(CLOSE_SESSION_ENDED)
            return
        if not self.team_ids <= team_ids:
            await self._end(CLOSE_ACCESS_LOST)
            return
        for team_id in team_ids - self.team_ids:
            group = team_group(team_id)
            self.groups_joined.append(group)
            await self.channel_layer.group_add(group, self.channel_name)
        self.team_ids = team_ids

    async def _end(self, code: int) -> None:
        # Leave the groups now: no notice may arrive between the close and the disconnect.
        await self.disconnect(code)
        await self.close(code=code)
