"""The gallery's websocket: joins the user's and their teams' groups and forwards the
fragments media_jobs.live pushes (cards, as hx-get stubs each tab loads for itself)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.live import team_group, user_group
from accounts.models import Membership


def _team_ids(user_id: int) -> list[int]:
    return list(Membership.objects.filter(user_id=user_id).values_list("team_id", flat=True))


class MediaConsumer(AsyncWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        team_ids = await database_sync_to_async(_team_ids)(user.pk)
        self.groups_joined = [user_group(user.pk), *(team_group(t) for t in team_ids)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return  # the page sends nothing; forms post over HTTP

    async def fragment_push(self, event: dict[str, Any]) -> None:
        """Sent as is: the pusher decided every member of the group may see it."""
        await self.send(text_data=event["html"])

    async def access_changed(self, event: dict[str, Any]) -> None:
        """Nothing to re-check: the stubs load each card through the access helper."""
        return
