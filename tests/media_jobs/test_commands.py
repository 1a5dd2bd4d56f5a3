"""/imagine, /suno and /luma through the real websocket routing (config.asgi): the command is
stored as the user's message, the job starts in the conversation, and the asking tab gets the
message and the card. Plus the gallery's socket, which forwards pushed cards."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from accounts.live import apush_fragment, team_group, user_group
from accounts.models import Membership
from chat import commands
from chat.models import Message
from config.asgi import application
from media_jobs import commands as media_commands
from media_jobs.models import MediaJob
from tests.factories import make_conversation, make_job
from tests.fixtures.gateway_check import remember_check
from tests.sockets import TIMEOUT, cookie_for, open_socket, receive_until, send_action

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_cookie(alice, team):
    return cookie_for(alice)


async def _tab(conversation, cookie):
    communicator, connected = await open_socket(conversation, cookie)
    assert connected
    return communicator


def _jobs() -> list[MediaJob]:
    return list(MediaJob.objects.select_related("message", "conversation"))


@pytest.mark.parametrize(
    ("text", "mode", "kind", "action", "prompt"),
    [
        ("/imagine a red fox --ar 16:9", "", "midjourney", "IMAGINE", "a red fox --ar 16:9"),
        ("/suno a sea shanty", "", "suno", "MUSIC", ""),  # inspiration: a description
        ("/LUMA waves at night", "", "luma", "GENERATE", "waves at night"),
        ("a red fox", "imagine", "midjourney", "IMAGINE", "a red fox"),  # the composer's mode
    ],
)
async def test_a_command_starts_its_job_in_the_thread(
    team, alice, alice_cookie, text, mode, kind, action, prompt
):
    conversation = await database_sync_to_async(make_conversation)(team, alice, is_shared=True)
    tab = await _tab(conversation, alice_cookie)

    await send_action(tab, "send", text=text, mode=mode)
    frames = await receive_until(tab, lambda frame: "data-job-kind" in frame)
    await tab.disconnect()

    [job] = await database_sync_to_async(_jobs)()
    assert (job.kind, job.action, job.prompt, job.created_by_id) == (kind, action, prompt, alice.pk)
    assert job.conversation == conversation and job.is_shared
    if kind == "suno":
        assert job.params == {"description": "a sea shanty"}
    assert job.message.role == Message.Role.USER and job.message.author_id == alice.pk
    assert job.message.content.lower().startswith("/")
    frame = frames[-1]
    # One append to the end of the thread: the command, then its card right after it.
    assert frame.startswith('<div hx-swap-oob="beforeend:#thread"><article class="message')
    assert frame[: frame.index('id="composer"')].count("hx-swap-oob=") == 1
    message_at = frame.index(f'id="message-{job.message.pk}"')
    assert frame.index(f'id="job-{job.pk.hex}"') > message_at
    assert f'data-job-kind="{kind}"' in frame and 'data-job-status="queued"' in frame


async def test_a_commands_card_offers_cancel_at_once(team, alice, alice_cookie):
    """The card comes with the card context of every page: Cancel shows at once, not only
    after the card's first refresh."""
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    tab = await _tab(conversation, alice_cookie)

    await send_action(tab, "send", text="/imagine a red fox")
    frames = await receive_until(tab, lambda frame: "data-job-kind" in frame)
    await tab.disconnect()

    [job] = await database_sync_to_async(_jobs)()
    assert reverse("media_jobs:cancel", args=[job.pk]) in frames[-1]


def test_a_commands_card_has_no_cancel_for_a_reader(team, alice, victor):
    """Victor started the job as a member and is a viewer now: his own job, no Cancel."""
    remember_check(features={"task_list": False, "queue": False, "cancel": True})
    conversation = make_conversation(team, alice, is_shared=True)
    alices = make_job(team, alice, conversation=conversation, is_shared=True)
    victors = make_job(team, victor, is_shared=True)

    def card(user, job) -> str:
        membership = Membership.objects.get(user=user, team=team)
        return media_commands.render_card(user, membership, job)

    assert reverse("media_jobs:cancel", args=[alices.pk]) in card(alice, alices)
    assert reverse("media_jobs:cancel", args=[victors.pk]) not in card(victor, victors)
    assert reverse("media_jobs:cancel", args=[alices.pk]) not in card(victor, alices)


async def test_a_command_without_a_prompt_is_refused_in_plain_words(team, alice, alice_cookie):
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    tab = await _tab(conversation, alice_cookie)

    await send_action(tab, "send", text="/imagine   ")
    frames = await receive_until(tab, lambda frame: 'id="composer-error"' in frame)
    await tab.disconnect()

    assert "Write what to make after the command" in frames[-1]
    assert await database_sync_to_async(MediaJob.objects.count)() == 0


async def test_a_reader_cannot_start_a_job_from_a_shared_conversation(team, alice, bob):
    conversation = await database_sync_to_async(make_conversation)(team, alice, is_shared=True)
    tab = await _tab(conversation, await database_sync_to_async(cookie_for)(bob))

    await send_action(tab, "send", text="/imagine a fox")
    frames = await receive_until(tab, lambda frame: "live-region" in frame)
    await tab.disconnect()

    assert "not write" in frames[-1]
    assert await database_sync_to_async(MediaJob.objects.count)() == 0
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_unknown_commands_and_plain_text_go_to_the_model(monkeypatch):
    assert commands.find("/imagine a fox") is not None
    assert commands.find("/unknown a fox") is None
    assert commands.find("imagine a fox") is None
    assert commands.with_mode("video", "x") == "x"  # not a registered mode
    assert commands.with_mode("suno", "/imagine a fox") == "/imagine a fox"
    with pytest.raises(ValueError):
        commands.register("imagine", lambda *a: None)  # type: ignore[arg-type,return-value]


# The gallery's socket


async def _gallery_socket(cookie):
    communicator = WebsocketCommunicator(
        application,
        "/ws/media/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie)],
    )
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected


async def test_the_gallery_socket_forwards_team_pushes_to_members_only(
    team, other_team, alice, charlie
):
    alices, ok = await _gallery_socket(await database_sync_to_async(cookie_for)(alice))
    charlies, ok2 = await _gallery_socket(await database_sync_to_async(cookie_for)(charlie))
    assert ok and ok2
    stub = '<div id="job-x" hx-swap-oob="outerHTML"></div>'

    await apush_fragment(team_group(team.pk), stub)
    await apush_fragment(user_group(charlie.pk), "<p>marker</p>")

    assert await alices.receive_from(timeout=TIMEOUT) == stub
    assert await charlies.receive_from(timeout=TIMEOUT) == "<p>marker</p>"
    await alices.disconnect()
    await charlies.disconnect()


async def test_the_gallery_socket_refuses_anonymous_users():
    communicator = WebsocketCommunicator(
        application,
        "/ws/media/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
    )
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_a_command_after_a_password_change_closes_the_tab_and_starts_nothing(
    team, alice, alice_cookie, monkeypatch
):
    from tests.sockets import closed

    conversation = await database_sync_to_async(make_conversation)(team, alice)
    tab = await _tab(conversation, alice_cookie)
    await tab.receive_from(timeout=TIMEOUT)  # idle controls

    def change_password():
        alice.set_password("another-long-passphrase-entirely")
        alice.save()

    # The access.changed event that would close the tab is not delivered: the command itself
    # must notice the session is gone.
    monkeypatch.setattr("accounts.live.access_changed", lambda group_name: None)
    await database_sync_to_async(change_password)()
    await send_action(tab, "send", text="/imagine a fox")

    assert await closed(tab)
    assert await database_sync_to_async(MediaJob.objects.count)() == 0
