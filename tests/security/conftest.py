"""Team A's objects, one of each kind a route can name, for the security suite: alice owns team A
(the `team` persona), charlie is the outsider with a team of his own (team B)."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.test.client import ClientHandler
from PIL import Image

from accounts.models import Invite, Membership, Team
from chat.models import GPT, Attachment, Conversation, Folder, Message
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_conversation, make_job, make_message
from usage.models import UsageRecord

# Written into every object of team A: no answer to an outsider may contain it.
SECRET = "team-a-secret-7f3c"


_handlers: dict[bool, ClientHandler] = {}


def fast_client(*, enforce_csrf_checks: bool = False, user=None) -> Client:
    """A test Client sharing one handler per CSRF mode: each new Client would build the
    middleware chain again (WhiteNoise scans the static files each time, ~90 ms), and the
    suite makes clients by the thousand. Cookies live on the Client, so nothing else is
    shared."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    if enforce_csrf_checks not in _handlers:
        _handlers[enforce_csrf_checks] = client.handler
    client.handler = _handlers[enforce_csrf_checks]
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture(scope="session")
def _suite_media(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture
def media_root(_suite_media, settings):
    """One media directory for the whole suite: a tmp_path per test cost seconds of removing
    old directories, for hundreds of tests that each store a file or two."""
    settings.MEDIA_ROOT = _suite_media
    return _suite_media


# The persona clients (tests/fixtures/personas.py), each on a shared handler.
@pytest.fixture
def client() -> Client:
    return fast_client()


@pytest.fixture
def alice_client(alice, team) -> Client:
    return fast_client(user=alice)


@pytest.fixture
def bob_client(bob, team) -> Client:
    return fast_client(user=bob)


@pytest.fixture
def charlie_client(charlie, other_team) -> Client:
    return fast_client(user=charlie)


@pytest.fixture
def victor_client(victor, team) -> Client:
    return fast_client(user=victor)


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
    folder: Folder

    def rows(self) -> dict[str, Any]:
        """Every stored field of every object: compared before and after the requests."""
        objects = [getattr(self, name) for name in self.__dataclass_fields__]
        return {
            f"{type(obj).__name__}:{obj.pk}": type(obj).objects.filter(pk=obj.pk).values().first()
            for obj in objects
        }


@pytest.fixture
def team_a(team, alice, bob, media_root) -> TeamA:
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
        folder=Folder.objects.create(team=team, user=alice, name=f"Work {SECRET}"),
    )
