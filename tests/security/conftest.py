"""Team A's objects, one of each kind a route can name, for the security suite: alice owns team A
(the `team` persona), charlie is the outsider with a team of his own (team B)."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from accounts.models import Invite, Membership, Team
from chat.models import GPT, Attachment, Conversation, Message
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_conversation, make_job, make_message
from usage.models import UsageRecord

# Written into every object of team A: no answer to an outsider may contain it.
SECRET = "team-a-secret-7f3c"


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class TeamA:
    team: Team
    conversation: Conversation
    message: Message
    attachment: Attachment
    gpt: GPT
    job: MediaJob
    media_file: MediaFile
    invite: Invite
    membership: Membership
    record: UsageRecord

    def rows(self) -> dict[str, Any]:
        """Every stored field of every object: compared before and after the requests."""
        objects = [getattr(self, name) for name in self.__dataclass_fields__]
        return {
            f"{type(obj).__name__}:{obj.pk}": type(obj).objects.filter(pk=obj.pk).values().first()
            for obj in objects
        }


@pytest.fixture
def team_a(team, alice, bob, settings, tmp_path) -> TeamA:
    settings.MEDIA_ROOT = tmp_path
    conversation = make_conversation(team, alice, title=f"Plans {SECRET}", is_shared=True)
    message = make_message(conversation, content=f"Hello {SECRET}")
    attachment = Attachment.objects.create(
        conversation=conversation,
        message=message,
        uploaded_by=alice,
        kind=Attachment.Kind.IMAGE,
        file=ContentFile(png_bytes(), name="a.png"),
        content_type="image/png",
        name=f"{SECRET}.png",
    )
    gpt = GPT.objects.create(team=team, gizmo_id="g-abc123", name=f"Helper {SECRET}")
    job = make_job(team, alice, prompt=f"a lighthouse {SECRET}", is_shared=True)
    media_file = MediaFile.objects.create(
        job=job, kind="image", file=ContentFile(png_bytes(), name="j.png"), content_type="image/png"
    )
    invite = Invite.objects.create(team=team, created_by=alice)
    record = UsageRecord.objects.create(
        team=team, user=alice, kind="chat", model=SECRET, month=datetime.date(2026, 1, 1)
    )
    return TeamA(
        team=team,
        conversation=conversation,
        message=message,
        attachment=attachment,
        gpt=gpt,
        job=job,
        media_file=media_file,
        invite=invite,
        membership=Membership.objects.get(team=team, user=bob),
        record=record,
    )
