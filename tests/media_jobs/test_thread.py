"""Job cards in a conversation's thread (media_jobs.thread_items through chat's hook): where
they sit, what they link to, what the page costs, how a job names its conversation, and the
card's words (titles, stuck jobs, previews, download names)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_conversation, make_job, make_message
from tests.sockets import cookie_for, open_socket, receive_until, send_action

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
U1 = {"customId": "MJ::JOB::upsample::1::abc", "label": "U1", "emoji": ""}
PAN = {"customId": "MJ::JOB::pan_left::1::abc::SOLO", "label": "", "emoji": "⬅️"}


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["gpt-4o"])


def _at(obj, minutes: int):
    """Give a row a creation time `minutes` after a fixed start (what happened when)."""
    when = timezone.now().replace(microsecond=0) - timedelta(hours=1) + timedelta(minutes=minutes)
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)
    obj.created_at = when
    return obj


def _file(job, kind=MediaFile.Kind.IMAGE, position=0):
    media = MediaFile(job=job, kind=kind, position=position, content_type="image/png")
    media.file.save(f"{kind}-{position}.png", ContentFile(PNG), save=False)
    media.size = len(PNG)
    media.save()
    return media


def _thread_html(client, conversation) -> str:
    html = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    return html[html.index('id="thread"') : html.index('id="live-updates"')]


def _story(team, alice):
    """/imagine A, a chat message and its reply, U1 pressed on A, then /imagine B."""
    conversation = make_conversation(team, alice)
    imagine_a = _at(make_message(conversation, content="/imagine a red fox", author=alice), 0)
    job_a = _at(
        make_job(
            team,
            alice,
            conversation=conversation,
            message=imagine_a,
            prompt="a red fox",
            status=MediaJob.Status.SUCCEEDED,
            buttons=[U1, PAN],
        ),
        0,
    )
    question = _at(make_message(conversation, content="Nice. And a name?", parent=imagine_a), 2)
    reply = _at(
        make_message(conversation, role=Message.Role.ASSISTANT, content="Rusty.", parent=question),
        3,
    )
    child = _at(
        make_job(
            team,
            alice,
            conversation=conversation,
            parent=job_a,
            action="UPSCALE",
            button=U1["customId"],
            prompt="a red fox",
        ),
        4,
    )
    imagine_b = _at(make_message(conversation, content="/imagine a blue owl", parent=reply), 5)
    job_b = _at(
        make_job(team, alice, conversation=conversation, message=imagine_b, prompt="a blue owl"),
        5,
    )
    return conversation, [imagine_a, job_a, question, reply, child, imagine_b, job_b]


def _anchor(obj) -> str:
    return f'id="job-{obj.pk.hex}"' if isinstance(obj, MediaJob) else f'id="message-{obj.pk}"'


def test_cards_sit_in_the_thread_where_they_happened(team, alice, alice_client):
    conversation, story = _story(team, alice)

    html = _thread_html(alice_client, conversation)

    positions = [html.index(_anchor(obj)) for obj in story]
    assert positions == sorted(positions)  # A after its command, U1 at the press, B after its


def test_a_child_links_to_its_parents_card_by_title(team, alice, alice_client):
    conversation, story = _story(team, alice)
    job_a, child = story[1], story[4]

    html = _thread_html(alice_client, conversation)

    card = html[html.index(_anchor(child)) :]
    link = re.search(r'<a class="job-parent-link" href="([^"]+)" data-job-parent="([^"]+)">', card)
    assert link and link.groups() == (
        reverse("media_jobs:detail", args=[job_a.pk]),
        f"job-{job_a.pk.hex}",
    )
    assert ">from Imagine</a>" in card
    assert ">Upscale 1</a></h3>" in card  # its own title, in words


def test_the_thread_frame_of_a_socket_carries_the_cards_too(team, alice, transactional_db):
    """A tab whose thread is re-rendered by the socket (sync, regenerate, edit) keeps its cards."""
    conversation, story = _story(team, alice)

    async def sync() -> str:
        tab, connected = await open_socket(
            conversation, await database_sync_to_async(cookie_for)(alice)
        )
        assert connected
        await send_action(tab, "sync")
        frames = await receive_until(tab, lambda frame: 'id="thread"' in frame)
        await tab.disconnect()
        return frames[-1]

    frame = async_to_sync(sync)()
    positions = [frame.index(_anchor(obj)) for obj in story]
    assert positions == sorted(positions)


def _page_queries(client, conversation) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("chat:conversation", args=[conversation.pk])).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_whatever_the_number_of_jobs(team, alice, alice_client):
    conversation, story = _story(team, alice)
    _page_queries(alice_client, conversation)  # warms the first-run cache
    few = _page_queries(alice_client, conversation)
    parent = story[-2]
    for i in range(15):
        parent = make_message(conversation, content=f"/imagine thing {i}", parent=parent)
        job = make_job(team, alice, conversation=conversation, message=parent, buttons=[U1])
        _file(job)
        make_job(team, alice, conversation=conversation, parent=job, button=U1["customId"])

    assert _page_queries(alice_client, conversation) == few
    assert _thread_html(alice_client, conversation).count('class="job-card"') == 3 + 30


def test_a_teammate_sees_the_cards_of_a_shared_conversation_without_their_buttons(
    team, alice, victor_client
):
    conversation, story = _story(team, alice)
    Conversation.objects.filter(pk=conversation.pk).update(is_shared=True)
    MediaJob.objects.update(is_shared=True)

    html = _thread_html(victor_client, conversation)

    assert all(_anchor(job) in html for job in story if isinstance(job, MediaJob))
    assert reverse("media_jobs:press", args=[story[1].pk]) not in html


# Titles of conversations a job started


def test_a_command_names_an_untitled_conversation_and_tells_its_tabs(team, alice, transactional_db):
    conversation = make_conversation(team, alice, title="")

    async def command() -> list[str]:
        tab, connected = await open_socket(
            conversation, await database_sync_to_async(cookie_for)(alice)
        )
        assert connected
        await send_action(tab, "send", text="/imagine a red fox at dawn\nin the snow --ar 16:9")
        frames = await receive_until(tab, lambda frame: 'id="conversation-title"' in frame)
        await tab.disconnect()
        return frames

    frames = async_to_sync(command)()
    conversation.refresh_from_db()
    assert conversation.title == "a red fox at dawn"  # the prompt's first line
    sidebar = (
        f'<span id="sidebar-title-{conversation.pk.hex}" hx-swap-oob="innerHTML" data-oob-optional>'
    )
    assert sidebar + "a red fox at dawn</span>" in frames[-1]


def test_a_studio_job_or_a_press_names_an_untitled_conversation_only(team, alice, alice_client):
    untitled = make_conversation(team, alice, title="")
    titled = make_conversation(team, alice, title="Plans")
    long_prompt = "a lighthouse " * 20
    parent = make_job(team, alice, prompt=long_prompt, status=MediaJob.Status.SUCCEEDED)

    make_job(team, alice, conversation=titled, prompt="an owl")
    make_job(team, alice, conversation=untitled, parent=parent, prompt="", action="UPSCALE")

    untitled.refresh_from_db()
    titled.refresh_from_db()
    assert titled.title == "Plans"
    assert untitled.title == long_prompt.strip()[:59] + "…"  # the parent's, cut like a chat's
    assert len(untitled.title) == 60


def test_a_studio_form_started_in_a_new_chat_names_it(team, alice, alice_client):
    conversation = make_conversation(team, alice, title="")
    url = reverse("media_jobs:new", args=["luma"]) + f"?conversation={conversation.pk}"

    response = alice_client.post(
        url,
        {"prompt": "waves at night", "aspect_ratio": "16:9", "idempotency_key": str(uuid.uuid4())},
    )

    assert response.status_code == 302

    conversation.refresh_from_db()
    assert conversation.title == "waves at night"
    html = alice_client.get(reverse("chat:home")).content.decode()
    assert (
        f'id="sidebar-title-{conversation.pk.hex}" class="conversation-title">waves at night<'
        in html
    )


# The card's words


@pytest.mark.parametrize(
    ("fields", "title"),
    [
        ({"action": "UPSCALE", "button": U1["customId"]}, "Upscale 1"),
        ({"action": "PAN", "button": PAN["customId"]}, "Pan left"),
        ({"action": "VARY_REGION", "button": "MJ::Inpaint::gone"}, "Vary (Region)"),
        ({"kind": "suno", "action": "MUSIC"}, "Song"),
        ({"kind": "luma", "action": "GENERATE"}, "Video"),
        ({"kind": "luma", "action": "EXTEND"}, "Extend video"),
    ],
)
def test_card_titles_are_words(team, alice, alice_client, fields, title):
    parent = make_job(team, alice, status=MediaJob.Status.SUCCEEDED, buttons=[U1, PAN])
    pressed = "button" in fields or fields["action"] == "EXTEND"
    job = make_job(team, alice, parent=parent if pressed else None, **fields)

    html = alice_client.get(reverse("media_jobs:card", args=[job.pk])).content.decode()

    assert f">{title}</a></h3>" in html


def test_the_models_title_wins_when_it_has_one(team, alice, alice_client, monkeypatch):
    monkeypatch.setattr(MediaJob, "title", property(lambda job: "Picture"), raising=False)
    job = make_job(team, alice)
    html = alice_client.get(reverse("media_jobs:card", args=[job.pk])).content.decode()
    assert ">Picture</a></h3>" in html


def test_a_stuck_job_says_so_and_offers_cancel_and_retry(
    team, alice, alice_client, monkeypatch, settings
):
    settings.MEDIA_STUCK_MINUTES = 7
    job = make_job(team, alice, status=MediaJob.Status.RUNNING, progress=40)
    card = reverse("media_jobs:card", args=[job.pk])
    assert "No progress" not in alice_client.get(card).content.decode()

    monkeypatch.setattr(MediaJob, "is_stuck", property(lambda job: job.is_active), raising=False)
    html = alice_client.get(card).content.decode()

    assert "No progress for 7 minutes." in html
    assert reverse("media_jobs:cancel", args=[job.pk]) in html
    assert reverse("media_jobs:retry", args=[job.pk]) in html


def test_a_drawing_picture_shows_its_stored_preview_while_active(team, alice, alice_client):
    job = make_job(team, alice, status=MediaJob.Status.RUNNING, progress=30)
    preview = _file(job, kind="preview")
    card = reverse("media_jobs:card", args=[job.pk])
    src = reverse("media_jobs:file", args=[job.pk, preview.pk])

    assert f'<img class="job-preview" src="{src}?v=30"' in alice_client.get(card).content.decode()
    MediaJob.objects.filter(pk=job.pk).update(status=MediaJob.Status.SUCCEEDED)
    assert "job-preview" not in alice_client.get(card).content.decode()


def test_downloads_are_named_after_the_file(team, alice, alice_client, monkeypatch):
    job = make_job(team, alice, status=MediaJob.Status.SUCCEEDED)
    media = _file(job)
    url = reverse("media_jobs:file_variant", args=[job.pk, media.pk, "download"])
    card = reverse("media_jobs:card", args=[job.pk])
    named = media.download_name  # from the prompt and the job's title, not the stored hash
    assert named.endswith("-imagine.png") and named != media.file.name.rsplit("/", 1)[-1]

    assert alice_client.get(url)["Content-Disposition"] == f'attachment; filename="{named}"'
    assert f'download="{named}"' in alice_client.get(card).content.decode()

    name = "a-red-fox-picture.png"
    monkeypatch.setattr(MediaFile, "download_name", property(lambda f: name), raising=False)
    assert alice_client.get(url)["Content-Disposition"] == f'attachment; filename="{name}"'
    assert f'href="{url}" download="{name}"' in alice_client.get(card).content.decode()
    inline = reverse("media_jobs:file", args=[job.pk, media.pk])
    assert alice_client.get(inline)["Content-Disposition"].startswith("inline;")
