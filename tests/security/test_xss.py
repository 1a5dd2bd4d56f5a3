"""The XSS corpus through the markdown renderer, the live (streaming) renderer, and every page
that shows text a member or a model wrote."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import User
from chat import frames, rendering
from chat.live_render import LiveRenderer
from chat.models import GPT, Attachment, Message
from gateway.redact import without_nul
from media_jobs.models import MediaJob
from tests.factories import make_conversation, make_job, make_message
from tests.security.conftest import png_bytes
from tests.security.corpus import MARK, XSS, executable_markup
from tests.security.test_tenancy import ROUTES, _kind, _url
from usage.models import UsageRecord


def test_the_checker_finds_what_it_looks_for():
    """The control: raw payloads are caught, so a pass below means something."""
    caught = [payload for payload in XSS if executable_markup(payload)]
    assert len(caught) >= 30
    assert executable_markup('<a href="java\tscript:x">')
    assert not executable_markup(f"<p>&lt;script&gt;{MARK}</p>")


@pytest.mark.parametrize("payload", XSS, ids=range(len(XSS)))
def test_the_renderer_lets_nothing_run(payload):
    for text in (payload, f"Some text\n\n{payload}\n\nmore", f"- {payload}", f"> {payload}"):
        html = rendering.render_markdown(text)
        assert executable_markup(html) == [], html
    assert executable_markup(rendering.render_plain(payload)) == []
    assert executable_markup(rendering.render_reasoning(payload)) == []


@pytest.mark.parametrize("payload", XSS, ids=range(len(XSS)))
def test_the_live_renderer_lets_nothing_run_at_any_point(payload):
    """What a streaming reply's frames carry: new blocks, and the open tail as drawn (plain
    text, an open code box, an open table and the rows appended to it)."""
    text = (
        f"Intro\n\n{payload}\n\n```{payload}\n{payload}\n```\n\n"
        f"| {payload} | b |\n|---|---|\n| {payload} | 2 |\n\n{payload} tail"
    )
    renderer = LiveRenderer()
    shown, rows = 0, 0
    for start in range(0, len(text), 3):
        renderer.feed(text[start : start + 3])
        frame = frames.blocks_frame(1, "".join(renderer.blocks[shown:]))
        frame += frames.tail_frame(1, renderer.tail_html("message-1"))
        if renderer.view_key()[1] == "fence":
            frame += frames.delta_frame(1, renderer.open_code(), target="code")
        elif renderer.view_key()[1] == "table":
            appended, rows = renderer.open_rows_html(rows)
            frame += frames.rows_frame(1, appended)
        shown = len(renderer.blocks)
        assert executable_markup(frame) == [], frame
    assert executable_markup("".join(renderer.finish())) == []


@pytest.fixture
def hostile_team(team, alice, bob, media_root):
    """Team A with the corpus in every field a member or a model writes."""
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    team.name = XSS[0][:80]
    team.save(update_fields=["name"])
    bob.display_name = XSS[3][: User._meta.get_field("display_name").max_length]
    bob.save(update_fields=["display_name"])
    # The title of the page (<title>) is where "</title>" breaks out.
    chat = make_conversation(team, alice, title=f"</title><script>{MARK}</script>", is_shared=True)
    for index, hostile in enumerate(XSS):
        # Stored as Parlor stores text: NUL (refused by PostgreSQL) as U+FFFD, as the input
        # and the gateway's text are (chat.services.clean_text, gateway.redact.without_nul).
        payload = without_nul(hostile)
        make_conversation(team, alice, title=payload[:200], is_shared=index % 2 == 0)
        make_message(chat, content=payload, author=bob)
        make_message(
            chat,
            role=Message.Role.ASSISTANT,
            content=payload,
            html=rendering.render_markdown(payload),
            error=payload,
            model=payload[:200],
        )
        Attachment.objects.create(
            conversation=chat,
            message=chat.current_leaf,
            uploaded_by=alice,
            kind=Attachment.Kind.IMAGE,
            file=ContentFile(png_bytes(), name="a.png"),
            content_type="image/png",
            name=payload[:255],
        )
        GPT.objects.create(team=team, gizmo_id=f"g-x{index}", name=payload[:80])
        job = make_job(
            team,
            alice,
            prompt=payload,
            status=MediaJob.Status.FAILED,
            error=payload,
            is_shared=True,
        )
        UsageRecord.objects.create(
            team=team, user=alice, kind="chat", model=payload[:200], month=datetime.date.today()
        )
    # What a gateway returns besides files, shown on cards (media_jobs/_card.html).
    said = XSS[3]
    result = {
        "description": said,
        "seed": said,
        "model": said,
        "size": said,
        "revised_prompts": [said],
        "final_prompt": f"1. {said}\n2. {XSS[16]}",
        "lyrics": {"title": said, "text": said},
        "clips": [{"id": said, "title": said, "tags": said, "lyrics": said, "duration": 3}],
        "urls": [f"https://cdn.example/?{MARK}=<script>"],
    }
    buttons = [{"customId": said, "label": said, "emoji": said, "style": 2}]
    kinds = [
        ("midjourney", "SHORTEN"),
        ("midjourney", "DESCRIBE"),
        ("midjourney", "UPLOAD"),
        ("midjourney", "IMAGINE"),
        ("image", "GENERATE"),
        ("suno", "MUSIC"),
        ("suno", "LYRICS"),
    ]
    for kind, action in kinds:
        make_job(
            team,
            alice,
            kind=kind,
            action=action,
            prompt=said,
            status=MediaJob.Status.SUCCEEDED,
            result=result,
            buttons=buttons,
            is_shared=True,
        )
    return {"chat": chat, "job": job, "team": team, "bob": bob}


def _pages(world) -> list[str]:
    chat, job, team = world["chat"], world["job"], world["team"]
    record = UsageRecord.objects.filter(team=team).first()
    assert record is not None
    return [
        reverse("chat:home"),
        reverse("chat:conversation", args=[chat.pk]),
        reverse("chat:search") + f"?q={MARK}",
        reverse("chat:gpts", args=[team.pk]),
        reverse("media_jobs:gallery"),
        reverse("media_jobs:detail", args=[job.pk]),
        reverse("media_jobs:card", args=[job.pk]),
        reverse("usage:overview"),
        reverse("usage:record", args=[record.pk]),
        reverse("usage:audit"),
        reverse("accounts:team"),
        reverse("accounts:settings"),
        reverse("admin:chat_conversation_changelist"),
        reverse("admin:chat_conversation_change", args=[chat.pk]),
        reverse("admin:chat_message_changelist"),
        reverse("admin:media_jobs_mediajob_changelist"),
        reverse("admin:media_jobs_mediajob_change", args=[job.pk]),
        reverse("admin:usage_usagerecord_changelist"),
        reverse("admin:accounts_team_changelist"),
        reverse("admin:accounts_user_change", args=[world["bob"].pk]),
    ]


def test_no_page_runs_what_members_or_models_wrote(hostile_team, alice_client):
    for url in _pages(hostile_team):
        response = alice_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html"), url
        page = response.content.decode()
        assert MARK in page, f"{url} shows none of the corpus: the test would prove nothing"
        assert executable_markup(page, data_images=True) == [], url


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_exports_are_never_html(hostile_team, alice_client, fmt):
    response = alice_client.get(reverse("chat:export", args=[hostile_team["chat"].pk, fmt]))
    assert response.status_code == 200
    assert not response["Content-Type"].startswith("text/html")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment")


# Names a multipart upload can carry whole: no "/" (a path), ";" (a header parameter), newline.
NAMEABLE = [payload for payload in XSS if not set("/;\n") & set(payload)]


@pytest.mark.parametrize("payload", NAMEABLE, ids=range(len(NAMEABLE)))
def test_an_upload_named_with_markup_is_named_safely_in_the_tray(
    payload, team, alice, alice_client, media_root
):
    """The tray's refusal names the file (chat.attachments), and attach.js parses the tray."""
    chat = make_conversation(team, alice)
    upload = SimpleUploadedFile(f"{payload}.png", b"not a picture", content_type="image/png")
    response = alice_client.post(reverse("chat:attach", args=[chat.pk]), {"images": upload})
    tray = response.content.decode()
    assert response.status_code == 400
    assert MARK in tray
    assert executable_markup(tray) == [], tray


REFLECTED = f"\"'><script>alert('{MARK}')</script><img src=x onerror=alert('{MARK}')>"
# Query parameters the views read (chat search, studio filters and prefill, login's next…).
QUERY = ["q", "kind", "status", "member", "since", "page", "prompt", "model", "t", "options"]


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if _kind(r) in ("object", "plain", "public")], ids=lambda r: r.name
)
def test_no_page_reflects_runnable_query_text(route, team_a, alice_client, client):
    query = dict.fromkeys(QUERY, REFLECTED) | {"next": f"javascript:alert('{MARK}')"}
    for asking in (alice_client, client):
        response = asking.get(_url(route, team_a), query)
        if not response.get("Content-Type", "").startswith("text/html") or response.streaming:
            continue
        assert executable_markup(response.content.decode(), data_images=True) == [], route.name
