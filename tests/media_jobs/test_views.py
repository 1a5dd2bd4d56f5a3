"""The studio's views: cards, buttons, retry, files, gallery, job page and forms; who may see
and press what (alice owner, bob member, victor viewer, charlie outsider)."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from media_jobs import uploads
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_conversation, make_job

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BUTTONS = [
    {"customId": "MJ::JOB::upsample::1::abc", "label": "U1", "emoji": ""},
    {"customId": "MJ::JOB::variation::1::abc", "label": "V1", "emoji": ""},
    {"customId": "MJ::JOB::reroll::0::abc::SOLO", "label": "", "emoji": "🔄"},
    {"customId": "MJ::Inpaint::1::abc::SOLO", "label": "Vary (Region)", "emoji": "🖌️"},
    {"customId": "MJ::CustomZoom::abc", "label": "Custom Zoom", "emoji": "🔍"},
]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _done(team, user, **extra) -> MediaJob:
    extra.setdefault("status", MediaJob.Status.SUCCEEDED)
    extra.setdefault("progress", 100)
    extra.setdefault("buttons", BUTTONS)
    return make_job(team, user, **extra)


def _file(job, *, kind=MediaFile.Kind.IMAGE, position=0, data=PNG, content_type="image/png"):
    media = MediaFile(job=job, kind=kind, position=position, content_type=content_type)
    media.file.save(f"result-{position}.png", ContentFile(data), save=False)
    media.size = len(data)
    media.save()
    return media


def _card(client, job):
    return client.get(reverse("media_jobs:card", args=[job.pk]))


def _press(client, job, custom_id, key=None, headers=None, follow=False, **extra):
    data = {"custom_id": custom_id, "idempotency_key": key or str(uuid.uuid4()), **extra}
    url = reverse("media_jobs:press", args=[job.pk])
    return client.post(url, data, headers=headers, follow=follow)


# Cards


def test_the_card_carries_the_contract_of_the_browser_tests(team, alice, alice_client):
    job = make_job(team, alice, status=MediaJob.Status.RUNNING, progress=40)

    html = _card(alice_client, job).content.decode()

    assert f'id="job-{job.pk.hex}"' in html
    assert 'data-job-kind="midjourney"' in html
    assert 'data-job-status="running"' in html
    assert '<progress max="100" value="40"' in html


def test_a_finished_card_has_the_gateways_buttons_by_their_labels(team, alice, alice_client):
    job = _done(team, alice)
    _file(job)

    html = _card(alice_client, job).content.decode()

    assert "<progress" not in html
    assert ">U1</button>" in html and ">V1</button>" in html
    assert 'aria-label="Reroll"' in html  # icon-only: named for screen readers
    assert "data-mask-form" in html and "data-mask-src=" in html  # Vary (Region) draws a mask
    assert "--zoom 2</textarea>" in html  # Custom Zoom asks for a prompt with --zoom
    assert reverse("media_jobs:file", args=[job.pk, job.files.get().pk]) in html
    assert "http" not in html.split("<img", 1)[1].split(">", 1)[0]  # never an upstream URL


def test_viewers_see_no_buttons(team, alice, victor_client):
    job = _done(team, alice, is_shared=True)

    html = _card(victor_client, job).content.decode()

    assert _card(victor_client, job).status_code == 200
    assert "U1" not in html
    assert reverse("media_jobs:press", args=[job.pk]) not in html
    assert reverse("media_jobs:retry", args=[job.pk]) not in html


def test_a_failed_card_says_why_and_offers_a_retry(team, alice, alice_client, victor_client):
    job = make_job(
        team, alice, status=MediaJob.Status.FAILED, error="The gateway said no.", is_shared=True
    )

    html = _card(alice_client, job).content.decode()

    assert "The gateway said no." in html
    assert reverse("media_jobs:retry", args=[job.pk]) in html
    assert (
        reverse("media_jobs:retry", args=[job.pk]) not in _card(victor_client, job).content.decode()
    )


def test_cards_of_private_jobs_and_other_teams_are_404(
    team, alice, bob_client, charlie_client, alice_client
):
    private = make_job(team, alice)
    shared = make_job(team, alice, is_shared=True)

    assert _card(bob_client, private).status_code == 404
    assert _card(bob_client, shared).status_code == 200
    assert _card(charlie_client, shared).status_code == 404
    assert alice_client.get("/studio/jobs/not-a-uuid/card/").status_code == 404


def test_suno_and_luma_cards_show_players_and_downloads(team, alice, alice_client):
    song = _done(
        team,
        alice,
        kind=MediaJob.Kind.SUNO,
        action="MUSIC",
        buttons=[],
        result={"clips": [{"id": "c1", "title": "Harbour", "lyrics": "la la", "duration": 30}]},
    )
    _file(song, kind=MediaFile.Kind.AUDIO, content_type="audio/mpeg", data=b"ID3" + b"0" * 20)
    _file(song, kind=MediaFile.Kind.COVER)
    video = _done(team, alice, kind=MediaJob.Kind.LUMA, action="GENERATE", buttons=[])
    _file(video, kind=MediaFile.Kind.VIDEO, content_type="video/mp4", data=b"\x00" * 32)

    song_html = _card(alice_client, song).content.decode()
    video_html = _card(alice_client, video).content.decode()

    assert "<audio controls" in song_html and "Harbour" in song_html and "la la" in song_html
    assert 'class="job-cover"' in song_html and 'value="parlor:continue"' in song_html
    assert "<video controls" in video_html and 'value="parlor:extend"' in video_html
    assert "/download/" in song_html and "/download/" in video_html


def test_describe_offers_each_prompt_as_one_click_to_imagine(team, alice, alice_client):
    job = _done(
        team,
        alice,
        action="DESCRIBE",
        buttons=[],
        result={"final_prompt": "1️⃣ a red fox --ar 1:1\n\n2️⃣ a blue bird"},
    )

    html = _card(alice_client, job).content.decode()

    assert 'name="prompt" value="a red fox --ar 1:1"' in html
    assert 'name="prompt" value="a blue bird"' in html
    start = re.search(
        r'<form method="post" action="([^"]+)".*?value="a red fox --ar 1:1"', html, re.S
    )
    assert start is not None and start.group(1) == reverse("media_jobs:new", args=["imagine"])
    form = dict(
        re.findall(
            r'name="(\w+)" value="([^"]*)"', html.split("a blue bird")[0].rsplit("<form", 1)[1]
        )
    )
    response = alice_client.post(start.group(1), form)
    imagined = MediaJob.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and imagined.prompt == "a red fox --ar 1:1"


# Buttons


def test_a_member_presses_u1_on_a_shared_job_and_gets_a_child(team, alice, bob, bob_client):
    job = _done(team, alice, is_shared=True)

    response = _press(bob_client, job, "MJ::JOB::upsample::1::abc", headers={"HX-Request": "true"})

    child = MediaJob.objects.get(parent=job)
    assert response.status_code == 201
    assert f'id="job-{child.pk.hex}"' in response.content.decode()
    # The engine sends the customId back verbatim; the card shows the gateway's label.
    assert (child.created_by, child.action) == (bob, "UPSCALE")
    assert (child.button, child.params) == ("MJ::JOB::upsample::1::abc", {})
    assert child.status == MediaJob.Status.QUEUED
    assert ">Upscale 1</a>" in _card(bob_client, job).content.decode()  # the child, in words


def test_a_modal_button_sends_the_prompt_and_the_mask(team, alice, alice_client):
    job = _done(team, alice, params={"speed": "relax"})
    mask = "data:image/png;base64," + base64.b64encode(PNG).decode()

    _press(alice_client, job, "MJ::Inpaint::1::abc::SOLO", prompt="a hat", mask=mask)

    child = MediaJob.objects.get(parent=job)
    assert (child.action, child.button) == ("INPAINT", "MJ::Inpaint::1::abc::SOLO")
    assert str(child.title) == "Vary (Region)"
    assert child.params["mask"].startswith("upload:")  # kept as a file
    assert uploads.inline_params(child) == {"speed": "relax", "modal_prompt": "a hat", "mask": mask}


def test_a_mask_that_is_not_a_png_is_refused_with_a_reason(team, alice, alice_client):
    job = _done(team, alice)

    response = _press(alice_client, job, "MJ::Inpaint::1::abc::SOLO", mask="javascript:x",
                      follow=True)  # fmt: skip

    assert "The mask must be a PNG image." in response.content.decode()
    assert not MediaJob.objects.filter(parent=job).exists()


def test_a_3_mb_mask_within_the_forms_allowance_is_taken(team, alice, alice_client):
    job = _done(team, alice)
    mask = "data:image/png;base64," + base64.b64encode(PNG + b"\x00" * 3_000_000).decode()

    response = _press(alice_client, job, "MJ::Inpaint::1::abc::SOLO", prompt="a hat", mask=mask)

    assert response.status_code in (201, 302)
    assert uploads.inline_params(MediaJob.objects.get(parent=job))["mask"] == mask


def test_a_mask_over_the_allowance_is_refused_with_a_reason(team, alice, alice_client):
    job = _done(team, alice)
    mask = "data:image/png;base64," + base64.b64encode(PNG + b"\x00" * 3_200_000).decode()

    response = _press(alice_client, job, "MJ::Inpaint::1::abc::SOLO", mask=mask, follow=True)

    assert "The mask must be 3 MB or smaller." in response.content.decode()
    assert not MediaJob.objects.filter(parent=job).exists()


def test_a_double_click_starts_one_job(team, alice, alice_client):
    job = _done(team, alice)
    key = str(uuid.uuid4())

    first = _press(alice_client, job, "MJ::JOB::upsample::1::abc", key=key)
    second = _press(alice_client, job, "MJ::JOB::upsample::1::abc", key=key)

    assert MediaJob.objects.filter(parent=job).count() == 1
    assert first["Location"] == second["Location"]


def test_only_buttons_the_gateway_sent_can_be_pressed(team, alice, alice_client):
    job = _done(team, alice)

    assert _press(alice_client, job, "MJ::JOB::upsample::9::forged").status_code == 400
    assert (
        _press(alice_client, make_job(team, alice), "MJ::JOB::upsample::1::abc").status_code == 400
    )
    assert not MediaJob.objects.filter(parent__isnull=False).exists()


def test_pressing_requires_the_write_role_and_access(
    team, alice, victor_client, charlie_client, bob_client
):
    shared = _done(team, alice, is_shared=True)
    private = _done(team, alice)

    assert _press(victor_client, shared, "MJ::JOB::upsample::1::abc").status_code == 403
    assert _press(charlie_client, shared, "MJ::JOB::upsample::1::abc").status_code == 404
    assert _press(bob_client, private, "MJ::JOB::upsample::1::abc").status_code == 404
    assert not MediaJob.objects.filter(parent__isnull=False).exists()


def test_a_child_joins_the_conversation_only_if_the_presser_writes_there(
    team, alice, bob, alice_client, bob_client
):
    conversation = make_conversation(team, alice, is_shared=True)
    job = _done(team, alice, conversation=conversation, is_shared=True)

    _press(alice_client, job, "MJ::JOB::upsample::1::abc")
    _press(bob_client, job, "MJ::JOB::variation::1::abc")

    assert MediaJob.objects.get(parent=job, created_by=alice).conversation == conversation
    assert MediaJob.objects.get(parent=job, created_by=bob).conversation is None


def test_suno_continue_needs_a_clip_of_the_job(team, alice, alice_client):
    song = _done(
        team,
        alice,
        kind=MediaJob.Kind.SUNO,
        action="MUSIC",
        buttons=[],
        result={"clips": [{"id": "c1"}]},
    )

    assert _press(alice_client, song, "parlor:continue", clip_id="other").status_code == 400
    _press(alice_client, song, "parlor:continue", clip_id="c1", continue_at="12")

    child = MediaJob.objects.get(parent=song)
    assert (child.action, child.params["continue_clip_id"], child.params["continue_at"]) == (
        "MUSIC",
        "c1",
        12.0,
    )


# Retry


def test_retry_queues_the_failed_job_again_for_its_creator_only(
    team, alice, alice_client, bob_client, victor_client
):
    failed = make_job(team, alice, status=MediaJob.Status.FAILED, error="x", is_shared=True)
    url = reverse("media_jobs:retry", args=[failed.pk])
    assert url in _card(alice_client, failed).content.decode()  # the creator is offered it
    assert url not in _card(bob_client, failed).content.decode()  # a teammate is not

    assert victor_client.post(url).status_code == 403
    assert bob_client.post(url).status_code == 403  # a teammate's job: not his to change
    first = alice_client.post(url, headers={"HX-Request": "true"})
    alice_client.post(url)  # a double click changes nothing more

    failed.refresh_from_db()
    assert (failed.status, failed.error) == ("queued", "")
    assert 'data-job-status="queued"' in first.content.decode()
    assert MediaJob.objects.count() == 1


# Files


def test_files_are_served_to_those_who_may_see_the_job_only(
    team, alice, alice_client, bob_client, charlie_client
):
    private = _done(team, alice)
    media = _file(private)
    url = reverse("media_jobs:file", args=[private.pk, media.pk])

    response = alice_client.get(url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert bob_client.get(url).status_code == 404  # private to alice
    assert charlie_client.get(url).status_code == 404
    private.is_shared = True
    private.save()
    assert bob_client.get(url).status_code == 200
    assert charlie_client.get(url).status_code == 404


def test_a_file_of_another_job_is_404_and_downloads_are_attachments(team, alice, alice_client):
    job = _done(team, alice)
    other = _done(team, alice)
    media = _file(other)

    assert alice_client.get(reverse("media_jobs:file", args=[job.pk, media.pk])).status_code == 404
    download = alice_client.get(
        reverse("media_jobs:file_variant", args=[other.pk, media.pk, "download"])
    )
    assert download["Content-Disposition"].startswith("attachment")
    bad = reverse("media_jobs:file_variant", args=[other.pk, media.pk, "etc"])
    assert alice_client.get(bad).status_code == 404


# Gallery and job page


def test_the_gallery_lists_own_and_shared_jobs_newest_first(
    team, alice, bob, alice_client, charlie_client
):
    mine = make_job(team, alice, prompt="mine")
    shared = make_job(team, bob, prompt="bob shared", is_shared=True)
    make_job(team, bob, prompt="bob private")

    response = alice_client.get(reverse("media_jobs:gallery"))

    assert list(response.context["jobs"]) == [shared, mine]
    assert 'id="job-list"' in response.content.decode()
    assert list(charlie_client.get(reverse("media_jobs:gallery")).context["jobs"]) == []


def test_the_gallery_filters_by_kind_member_status_and_date(team, alice, bob, alice_client):
    song = make_job(team, alice, kind=MediaJob.Kind.SUNO, status=MediaJob.Status.FAILED)
    bobs = make_job(team, bob, is_shared=True)
    url = reverse("media_jobs:gallery")

    assert list(alice_client.get(url, {"kind": "suno"}).context["jobs"]) == [song]
    assert list(alice_client.get(url, {"status": "failed"}).context["jobs"]) == [song]
    assert list(alice_client.get(url, {"member": bob.pk}).context["jobs"]) == [bobs]
    assert list(alice_client.get(url, {"since": "2999-01-01"}).context["jobs"]) == []
    assert len(alice_client.get(url, {"since": "junk", "member": "x"}).context["jobs"]) == 2


def _gallery_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("media_jobs:gallery")).status_code == 200
    return len(queries)


def test_the_gallery_query_count_does_not_grow_with_the_jobs(team, alice, bob, alice_client):
    parent = _done(team, alice)
    _file(parent)
    _gallery_queries(alice_client)
    few = _gallery_queries(alice_client)
    for i in range(10):
        child = _done(team, alice, parent=parent, button=f"U{i}")
        _file(child)
        make_job(
            team, bob, is_shared=True, kind=MediaJob.Kind.SUNO, result={"clips": [{"id": "c"}]}
        )

    assert _gallery_queries(alice_client) == few


def test_the_job_page_shows_the_lineage(team, alice, alice_client, bob_client):
    root = _done(team, alice, prompt="root prompt", is_shared=True)
    middle = _done(team, alice, parent=root, button="U1", is_shared=True)
    leaf = _done(team, alice, parent=middle, button="V2", is_shared=True)
    private_child = _done(team, alice, parent=middle, button="U3")

    response = bob_client.get(reverse("media_jobs:detail", args=[middle.pk]))

    assert response.context["lineage"] == [root]
    assert list(response.context["children"]) == [leaf]  # bob cannot see the private one
    assert private_child.pk.hex not in response.content.decode()
    assert alice_client.get(reverse("media_jobs:detail", args=[leaf.pk])).context["lineage"] == [
        root,
        middle,
    ]


# Forms


def test_imagine_starts_a_job_with_its_parameters(team, alice, alice_client):
    key = str(uuid.uuid4())
    data = {
        "prompt": "a fox",
        "aspect": "16:9",
        "version": "niji 6",
        "speed": "relax",
        "idempotency_key": key,
    }

    response = alice_client.post(reverse("media_jobs:new", args=["imagine"]), data)
    alice_client.post(reverse("media_jobs:new", args=["imagine"]), data)

    job = MediaJob.objects.get()
    assert response["Location"] == reverse("media_jobs:detail", args=[job.pk])
    # Aspect and version go into the prompt as flags; niji picks the bot.
    assert (job.kind, job.action, job.prompt, job.created_by) == (
        "midjourney",
        "IMAGINE",
        "a fox --ar 16:9",
        alice,
    )
    assert job.params == {"niji": True, "speed": "relax"}


def test_the_form_page_renders_with_an_idempotency_key(alice_client):
    for tool in (
        "imagine",
        "blend",
        "describe",
        "shorten",
        "swap-face",
        "upload",
        "suno",
        "lyrics",
        "luma",
    ):
        html = alice_client.get(reverse("media_jobs:new", args=[tool])).content.decode()
        assert 'name="idempotency_key"' in html, tool
    assert alice_client.get("/studio/new/nope/").status_code == 404


def test_viewers_and_outsiders_cannot_start_jobs(victor_client, charlie_client, team, alice):
    url = reverse("media_jobs:new", args=["imagine"])
    data = {
        "prompt": "a fox",
        "aspect": "1:1",
        "speed": "fast",
        "idempotency_key": str(uuid.uuid4()),
    }

    assert victor_client.post(url, data).status_code == 403
    conversation = make_conversation(team, alice, is_shared=True)
    assert charlie_client.post(url + f"?conversation={conversation.pk}", data).status_code == 404
    assert not MediaJob.objects.exists()


def test_uploads_are_checked_by_their_bytes_and_size(alice_client, settings):
    url = reverse("media_jobs:new", args=["describe"])

    def post(name, data):
        upload = ContentFile(data, name=name)
        return alice_client.post(url, {"image": upload, "idempotency_key": str(uuid.uuid4())})

    fake = post("cat.png", b"<script>alert(1)</script>")
    big = post("big.png", PNG + b"\x00" * (5 * 1024 * 1024))
    good = post("cat.png", PNG)

    assert fake.status_code == 400 and "Upload a PNG" in fake.content.decode()
    assert big.status_code == 400 and "5 MB" in big.content.decode()
    assert good.status_code == 302
    job = MediaJob.objects.get()
    assert (
        uploads.inline_params(job)["image"]
        == "data:image/png;base64," + base64.b64encode(PNG).decode()
    )


def test_blend_takes_two_to_five_images(alice_client):
    url = reverse("media_jobs:new", args=["blend"])

    def post(count):
        files = [ContentFile(PNG, name=f"{i}.png") for i in range(count)]
        data = {"images": files, "dimensions": "SQUARE", "idempotency_key": str(uuid.uuid4())}
        return alice_client.post(url, data)

    assert post(1).status_code == 400
    assert post(6).status_code == 400
    assert post(2).status_code == 302
    assert len(MediaJob.objects.get().params["images"]) == 2


def test_a_job_started_from_a_conversation_lands_there(team, alice, alice_client):
    conversation = make_conversation(team, alice, is_shared=True)
    url = reverse("media_jobs:new", args=["suno"]) + f"?conversation={conversation.pk}"

    response = alice_client.post(
        url, {"mode": "inspiration", "prompt": "sea shanty", "idempotency_key": str(uuid.uuid4())}
    )

    job = MediaJob.objects.get()
    assert response["Location"] == conversation.get_absolute_url()
    assert (job.conversation, job.is_shared, job.kind, job.action) == (
        conversation,
        True,
        "suno",
        "MUSIC",
    )


# The chat page


def _page_queries(client, conversation) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(conversation.get_absolute_url()).status_code == 200
    return len(queries)


def test_the_chat_page_shows_its_jobs_in_a_constant_number_of_queries(
    team, alice, alice_client, monkeypatch
):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["gpt-4o"])
    conversation = make_conversation(team, alice)
    first = _done(team, alice, conversation=conversation)
    _file(first)
    _page_queries(alice_client, conversation)
    few = _page_queries(alice_client, conversation)
    for _ in range(10):
        _file(_done(team, alice, conversation=conversation, parent=first))

    html = alice_client.get(conversation.get_absolute_url()).content.decode()

    assert _page_queries(alice_client, conversation) == few
    assert html.count('class="job-card"') == 11 and f'id="job-{first.pk.hex}"' in html
    thread = html[html.index('id="thread"') : html.index('id="live-updates"')]
    assert thread.count('class="job-card"') == 11  # in the thread, not in a list under it
    assert 'id="job-list"' not in html and 'name="mode"' in html


# Optional gateway routes


@pytest.mark.parametrize("kind", ["midjourney", "suno", "luma"])
def test_the_creator_cancels_an_active_job_of_any_kind(team, alice, alice_client, kind):
    job = make_job(team, alice, kind=kind, status=MediaJob.Status.RUNNING, progress=10)
    url = reverse("media_jobs:cancel", args=[job.pk])

    response = alice_client.post(url, headers={"HX-Request": "true"})

    job.refresh_from_db()
    assert job.status == MediaJob.Status.CANCELLED
    assert 'data-job-status="cancelled"' in response.content.decode()
    assert alice_client.post(url).status_code == 400  # ended already


def test_a_member_may_not_cancel_anothers_job_and_an_owner_may(
    team, alice, bob, bob_client, alice_client, victor_client
):
    shared = make_job(team, bob, status=MediaJob.Status.RUNNING, is_shared=True)
    owners = make_job(team, alice, status=MediaJob.Status.RUNNING, is_shared=True)
    private = make_job(team, alice, status=MediaJob.Status.RUNNING)

    assert bob_client.post(reverse("media_jobs:cancel", args=[owners.pk])).status_code == 403
    assert bob_client.post(reverse("media_jobs:cancel", args=[private.pk])).status_code == 404
    assert victor_client.post(reverse("media_jobs:cancel", args=[shared.pk])).status_code == 403
    owners.refresh_from_db()
    assert owners.status == MediaJob.Status.RUNNING

    assert alice_client.post(reverse("media_jobs:cancel", args=[shared.pk])).status_code == 302
    shared.refresh_from_db()
    assert shared.status == MediaJob.Status.CANCELLED


@pytest.mark.parametrize("kind", ["midjourney", "suno", "luma"])
def test_cancel_is_offered_to_the_creator_and_an_owner_only(
    team, alice, bob, alice_client, bob_client, kind
):
    """Every kind can be cancelled while active: by its creator (with a writing role) and by
    the team's owner; another member sees no Cancel, nor anyone on a finished job."""
    bobs = make_job(team, bob, kind=kind, status=MediaJob.Status.RUNNING, is_shared=True)
    alices = make_job(team, alice, kind=kind, status=MediaJob.Status.QUEUED, is_shared=True)
    done = _done(team, bob, kind=kind, is_shared=True)

    def offered(client, job) -> bool:
        return reverse("media_jobs:cancel", args=[job.pk]) in _card(client, job).content.decode()

    assert offered(bob_client, bobs) and offered(alice_client, bobs)  # creator, owner
    assert offered(alice_client, alices) and not offered(bob_client, alices)  # a member
    assert not offered(bob_client, done) and not offered(alice_client, done)


@pytest.mark.django_db(transaction=True)
async def test_features_are_asked_of_the_gateway_and_cached(demo_gateway):
    from media_jobs import features

    answer = await features.refresh()

    assert set(answer) == {"task_list", "queue", "cancel"}
    assert features.cached() == answer


def test_imagine_flags_do_not_repeat_what_the_prompt_says(alice_client):
    url = reverse("media_jobs:new", args=["imagine"])
    base = {"speed": "fast", "idempotency_key": str(uuid.uuid4())}

    alice_client.post(url, {**base, "prompt": "a fox --ar 3:2", "aspect": "16:9", "version": "7"})

    job = MediaJob.objects.get()
    assert (job.prompt, job.params) == ("a fox --ar 3:2 --v 7", {"speed": "fast"})


@pytest.mark.parametrize(
    ("data", "prompt", "params"),
    [
        (
            {"mode": "inspiration", "prompt": "a shanty", "title": "x"},
            "",
            {"description": "a shanty"},
        ),
        (
            {"mode": "custom", "prompt": "la la", "title": "Sea", "tags": "folk"},
            "la la",
            {"title": "Sea", "tags": "folk"},
        ),
    ],
)
def test_suno_modes_send_a_description_or_lyrics(alice_client, data, prompt, params):
    url = reverse("media_jobs:new", args=["suno"])

    alice_client.post(url, {**data, "idempotency_key": str(uuid.uuid4())})

    job = MediaJob.objects.get()
    assert (job.prompt, job.params) == (prompt, params)


def test_a_job_from_a_conversation_of_another_team_of_mine_joins_that_team(
    alice, alice_client, team
):
    from tests.factories import make_team

    second = make_team("Side project", owner=alice)
    conversation = make_conversation(second, alice)
    url = reverse("media_jobs:new", args=["shorten"]) + f"?conversation={conversation.pk}"

    alice_client.post(url, {"prompt": "a very long prompt", "idempotency_key": str(uuid.uuid4())})

    job = MediaJob.objects.get()
    assert (job.team, job.conversation) == (second, conversation)
