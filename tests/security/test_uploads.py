"""The upload corpus (tests/security/uploads.py) through every upload endpoint: each file is
refused with a message, or stored as something safe and served so that it never runs as a
page of our origin (its type from the bytes, nosniff, a sandbox or a download)."""

from __future__ import annotations

import inspect
import pathlib
import re
from typing import Any

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chat import forms as chat_forms
from chat.models import GPT, Attachment
from media_jobs import forms as media_forms
from tests.factories import make_conversation
from tests.security.uploads import CORPUS, png
from tests.voice.conftest import make_audio

# Types no endpoint offers to take (each says PNG, JPEG, GIF, WebP; attachments add HEIC):
# decoders nobody needs are attack surface (EPS runs Ghostscript where it is installed).
NOT_OFFERED = {"eps", "bmp"}

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPS = ("accounts", "chat", "config", "media_jobs", "usage", "voice")
SAFE_TYPES = re.compile(r"(image/(png|jpeg|gif|webp)|audio/[\w.+-]+|application/octet-stream)$")

# Every form field taking a file, and every view reading request.FILES, with the test below
# that sends it the corpus. A new one fails test_every_upload_is_in_the_corpus_tests.
FILE_FIELDS = {
    "GPTForm.icon_upload": "test_gpt_icons",
    "media_jobs.ImageField": "test_studio_image_fields",
    "media_jobs.ImagesField": "test_studio_image_fields",
}
FILES_READERS = {
    "chat/views_attachments.py": "test_chat_attachments",
    "chat/views_gpts.py": "test_gpt_icons",
    "media_jobs/views.py": "test_studio_image_fields",
    "voice/views.py": "test_voice_recordings",
}


def _form_file_fields() -> set[str]:
    found = set()
    for module in (chat_forms, media_forms):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, forms.BaseForm) or cls.__module__ != module.__name__:
                continue
            for field_name, field in cls.base_fields.items():
                if not isinstance(field, forms.FileField):
                    continue
                if type(field).__module__ == media_forms.__name__:
                    found.add(f"media_jobs.{type(field).__name__}")
                else:
                    found.add(f"{name}.{field_name}")
    return found


def test_every_upload_is_in_the_corpus_tests():
    assert _form_file_fields() == set(FILE_FIELDS)
    readers = {
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "request.FILES" in path.read_text()
    }
    assert readers == set(FILES_READERS)


def _upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def _assert_served_safely(response) -> None:
    assert response.status_code == 200
    content_type = response["Content-Type"].split(";")[0]
    assert SAFE_TYPES.match(content_type), content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response.get("Content-Disposition", "")
    assert "\u202e" not in disposition and "/" not in disposition.split("filename")[-1]
    assert disposition.startswith("attachment") or "sandbox" in response.get(
        "Content-Security-Policy", ""
    )


@pytest.fixture
def media(settings, media_root):
    settings.ATTACHMENT_MAX_MB = 1
    return media_root


@pytest.fixture
def conversation(team, alice, media):
    return make_conversation(team, alice)


@pytest.mark.parametrize("case", CORPUS, ids=str)
def test_chat_attachments(case, alice_client, conversation):
    name, data = CORPUS[case]
    url = reverse("chat:attach", args=[conversation.pk])
    response = alice_client.post(url, {"images": _upload(name, data)})
    stored = list(Attachment.objects.filter(conversation=conversation))
    if response.status_code == 400:
        assert stored == []
        assert 'class="attach-error' in response.content.decode() or "error" in str(
            response.content
        )
        return
    assert response.status_code == 200, response.content
    assert case not in NOT_OFFERED, "an attachment of a type the page says it does not take"
    (item,) = stored
    assert "/" not in item.name and "\u202e" not in item.name and "\x00" not in item.name
    assert item.content_type in ("image/png", "image/jpeg", "image/webp")
    for variant in ("file", "thumb", "download"):
        served = alice_client.get(
            reverse("chat:attachment", args=[conversation.pk, item.pk, variant])
        )
        _assert_served_safely(served)
        assert b"<script" not in b"".join(served.streaming_content)


def test_an_oversize_attachment_is_refused_unread(alice_client, conversation):
    url = reverse("chat:attach", args=[conversation.pk])
    response = alice_client.post(url, {"images": _upload("big.png", png() + b"\x00" * 2_000_000)})
    assert response.status_code == 400
    assert b"larger than 1 MB" in response.content
    assert not Attachment.objects.exists()


@pytest.mark.parametrize("case", CORPUS, ids=str)
def test_voice_recordings(case, alice_client, conversation):
    name, data = CORPUS[case]
    url = reverse("voice:upload", args=[conversation.pk])
    response = alice_client.post(
        url, {"audio": _upload(name, data, "audio/webm"), "purpose": "translate"}
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]
    assert not Attachment.objects.exists()


def test_an_oversize_recording_is_refused(alice_client, conversation, settings):
    settings.AUDIO_UPLOAD_MAX_MB = 0.5
    url = reverse("voice:upload", args=[conversation.pk])
    response = alice_client.post(
        url, {"audio": _upload("big.webm", b"\x1a\x45\xdf\xa3" + b"\x00" * 700_000)}
    )
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


@pytest.mark.parametrize("case", CORPUS, ids=str)
def test_studio_image_fields(case):
    """Each studio image goes to the gateway as a data URL of a picture type, or is refused."""
    name, data = CORPUS[case]
    for field in (media_forms.ImageField(), media_forms.ImagesField(min_count=1)):
        try:
            cleaned: Any = field.clean(_upload(name, data))
        except ValidationError as exc:
            assert exc.messages
            continue
        for url in cleaned if isinstance(cleaned, list) else [cleaned]:
            assert re.match(r"data:image/(png|jpeg|gif|webp);base64,", url), url[:40]


def test_an_oversize_studio_image_is_refused():
    with pytest.raises(ValidationError, match="5 MB"):
        media_forms.ImageField().clean(_upload("big.png", png() + b"\x00" * (5 * 1024 * 1024)))


@pytest.mark.parametrize("case", CORPUS, ids=str)
def test_gpt_icons(case, team, alice_client, media):
    name, data = CORPUS[case]
    url = reverse("chat:gpts", args=[team.pk])
    form = {"source": "g-abc123", "name": "Helper", "icon_upload": _upload(name, data)}
    response = alice_client.post(url, form)
    gpt = GPT.objects.filter(team=team).first()
    if gpt is None:
        assert response.status_code in (200, 400)
        assert 'id="id_icon_upload_error"' in response.content.decode()
        return
    assert case not in NOT_OFFERED, "an icon of a type the form says it does not take"
    assert gpt.icon, "a GPT was saved without its icon"
    served = alice_client.get(reverse("chat:gpt_icon", args=[team.pk, gpt.pk]))
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content).startswith(b"\x89PNG")


def test_an_oversize_icon_is_refused(team, alice_client, media):
    big = _upload("big.png", png() + b"\x00" * (3 * 1024 * 1024))
    form = {"source": "g-abc123", "name": "Helper", "icon_upload": big}
    response = alice_client.post(reverse("chat:gpts", args=[team.pk]), form)
    assert "2 MB" in response.content.decode()
    assert not GPT.objects.exists()


def test_the_controls_are_taken(team, alice_client, conversation):
    """A real picture goes through each endpoint: the refusals above are the corpus' doing."""
    url = reverse("chat:attach", args=[conversation.pk])
    assert alice_client.post(url, {"images": _upload("ok.png", png())}).status_code == 200
    assert media_forms.ImageField().clean(_upload("ok.png", png())).startswith("data:image/png")
    form = {"source": "g-abc123", "name": "Helper", "icon_upload": _upload("ok.png", png())}
    alice_client.post(reverse("chat:gpts", args=[team.pk]), form)
    assert GPT.objects.get(team=team).icon


@pytest.mark.parametrize(
    "name", ["../../x.html", "\u202egnp.html", "a\x00b\x07.webm", "<img src=x onerror=1>.webm"]
)
def test_a_recording_is_stored_under_a_clean_name_and_served_safely(
    name, alice_client, conversation
):
    url = reverse("voice:upload", args=[conversation.pk])
    upload = _upload(name, make_audio("webm", 0.5), "text/html")
    response = alice_client.post(url, {"audio": upload, "purpose": "translate"})
    assert response.status_code == 201, response.content
    item = Attachment.objects.get(pk=response.json()["id"])
    assert not set(item.name) & {"/", "\\", "\x00", "\x07", "\u202e"}, item.name
    served = alice_client.get(reverse("chat:attachment", args=[conversation.pk, item.pk, "file"]))
    _assert_served_safely(served)
    assert served["Content-Type"].startswith("audio/")
