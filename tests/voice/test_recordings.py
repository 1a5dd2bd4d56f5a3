"""POST /c/<id>/recordings/: a recording stored under the name its bytes call for,
transcribed in the member's language, long audio split, charged per minute through the
one money path (refused before anything goes upstream), and played only to who may."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chat.models import Attachment
from demo_gateway import audio as demo_audio
from tests.factories import make_conversation, make_message
from tests.usage.ledger import assert_ledger_balances
from tests.voice.conftest import make_audio
from usage.models import TeamBudget, UsageRecord
from voice import services

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(client, conversation, data: bytes, name: str = "x.webm", **extra):
    url = reverse("voice:upload", args=[conversation.pk])
    file = SimpleUploadedFile(name, data, content_type="audio/webm")
    return client.post(url, {"audio": file, **extra})


def _audio_requests(gateway) -> list:
    return [r for r in gateway.requests if r.path.startswith("/v1/audio/")]


def _sent_file(request) -> tuple[str, bytes]:
    return demo_audio.parse_multipart(request.headers["content-type"], request.body)["file"]


def test_the_extension_comes_from_the_bytes_not_the_browser(
    alice_client, conversation, demo_gateway
):
    data = make_audio("webm", seconds=2)
    response = _upload(alice_client, conversation, data, name="x.mp4")  # Safari-style lie
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["text"].startswith("Transcribed 2.0 seconds of audio.")
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.content_type == "audio/webm"
    assert attachment.file.name.endswith(".webm")
    assert attachment.kind == Attachment.Kind.AUDIO and attachment.message is None
    assert attachment.duration_ms == pytest.approx(2000, abs=100)
    (request,) = _audio_requests(demo_gateway)
    assert _sent_file(request) == ("audio.webm", data)


def test_the_members_language_is_sent_when_set(alice, alice_client, conversation, demo_gateway):
    alice.transcription_language = "de"
    alice.save(update_fields=["transcription_language"])
    body = _upload(alice_client, conversation, make_audio("ogg", seconds=1)).json()
    assert "Sekunden Audio transkribiert" in body["text"]
    (request,) = _audio_requests(demo_gateway)
    fields = demo_audio.parse_multipart(request.headers["content-type"], request.body)
    assert fields["language"][1] == b"de"


def test_without_a_language_it_is_detected(alice_client, conversation, demo_gateway):
    _upload(alice_client, conversation, make_audio("ogg", seconds=1))
    (request,) = _audio_requests(demo_gateway)
    fields = demo_audio.parse_multipart(request.headers["content-type"], request.body)
    assert "language" not in fields


def test_long_audio_is_split_and_each_piece_named_mp3(
    settings, alice_client, conversation, team, demo_gateway
):
    settings.AUDIO_MAX_MINUTES = 0.1  # six-second pieces
    response = _upload(alice_client, conversation, make_audio("webm", seconds=14))
    assert response.status_code == 201, response.content
    requests = _audio_requests(demo_gateway)
    assert len(requests) == 3
    assert {_sent_file(r)[0] for r in requests} == {"audio.mp3"}
    text = response.json()["text"]
    assert text.count("Transcribed") == 3
    record = UsageRecord.objects.get(kind=UsageRecord.Kind.AUDIO)
    assert record.status == UsageRecord.Status.SETTLED
    assert record.cost == services.audio_cost("whisper-1", 14).amount
    assert_ledger_balances(team)


def test_over_the_gateways_size_it_is_split_too(settings, alice_client, conversation, demo_gateway):
    settings.AUDIO_GATEWAY_MAX_MB = 0.01  # ~10 KB: a few seconds of 32 kbit/s MP3
    response = _upload(alice_client, conversation, make_audio("wav", seconds=5))
    assert response.status_code == 201, response.content
    requests = _audio_requests(demo_gateway)
    assert len(requests) >= 2
    assert all(len(_sent_file(r)[1]) <= 10_486 for r in requests)


def test_a_transcription_is_charged_through_the_ledger(
    alice_client, conversation, team, demo_gateway
):
    _upload(alice_client, conversation, make_audio("mp3", seconds=3))
    record = UsageRecord.objects.get()
    assert (record.kind, record.model, record.status) == ("audio", "whisper-1", "settled")
    assert record.conversation_id == conversation.pk
    assert record.cost > 0
    assert record.prompt_tokens == services.audio_tokens(3.0)  # 1,000 a minute: 50
    assert_ledger_balances(team)


def test_a_price_per_second_of_audio_is_used_when_set(db):
    from usage.models import Price

    Price.objects.create(model="whisper-1", per_audio_second="0.0001", prompt_per_1k="9")
    assert services.audio_cost("whisper-1", 60).amount == Decimal("0.006")
    Price.objects.filter(model="whisper-1").update(per_audio_second=0)
    # No price per second: new-api's 1,000 tokens a minute at the token price.
    assert services.audio_cost("whisper-1", 60).amount == Decimal("9")


def test_the_budget_refuses_before_anything_goes_upstream(
    alice_client, conversation, team, demo_gateway
):
    TeamBudget.objects.create(team=team, monthly_limit=0)
    response = _upload(alice_client, conversation, make_audio("webm", seconds=1))
    assert response.status_code == 402
    assert "budget" in response.json()["error"]
    assert _audio_requests(demo_gateway) == []
    assert not Attachment.objects.exists()
    assert not UsageRecord.objects.exists()


def test_the_gateways_wrong_extension_error_is_clear_and_refunded(
    monkeypatch, alice_client, conversation, team, demo_gateway
):
    from voice import transcode

    real = transcode.pieces

    def lying_pieces(*args, **kwargs):  # as a client that trusted the browser would
        return [transcode.Piece(p.data, "mp4", p.seconds) for p in real(*args, **kwargs)]

    monkeypatch.setattr(transcode, "pieces", lying_pieces)
    response = _upload(alice_client, conversation, make_audio("webm", seconds=1))
    assert response.status_code == 502
    assert "could not read this recording's format" in response.json()["error"]
    assert response.json()["id"]  # the recording is kept: it can still be sent
    record = UsageRecord.objects.get()
    assert record.status == UsageRecord.Status.REFUNDED
    assert_ledger_balances(team)


def test_a_file_that_is_not_audio_is_refused(alice_client, conversation, demo_gateway):
    response = _upload(alice_client, conversation, b"GIF89a" + b"\0" * 100, name="x.webm")
    assert response.status_code == 400
    assert "not an audio file" in response.json()["error"]
    assert _audio_requests(demo_gateway) == [] and not Attachment.objects.exists()


def test_too_large_is_refused(settings, alice_client, conversation, demo_gateway):
    settings.AUDIO_UPLOAD_MAX_MB = 0.001
    response = _upload(alice_client, conversation, make_audio("wav", seconds=1))
    assert response.status_code == 413
    assert _audio_requests(demo_gateway) == []


def test_for_translation_it_is_only_stored(alice_client, conversation, demo_gateway):
    response = _upload(alice_client, conversation, make_audio("m4a", 1), purpose="translate")
    assert response.status_code == 201
    assert "text" not in response.json()
    assert _audio_requests(demo_gateway) == [] and not UsageRecord.objects.exists()


def test_who_may_not_write_cannot_upload(victor_client, charlie_client, conversation, demo_gateway):
    data = make_audio("webm", seconds=1)
    assert _upload(victor_client, conversation, data).status_code == 404  # private: unseen
    assert _upload(charlie_client, conversation, data).status_code == 404
    shared = make_conversation(conversation.team, conversation.created_by, is_shared=True)
    assert _upload(victor_client, shared, data).status_code == 403
    assert not Attachment.objects.exists()


def _play(client, conversation, attachment_id):
    return client.get(reverse("chat:attachment", args=[conversation.pk, attachment_id, "file"]))


def test_recordings_play_only_for_who_may_read_them(
    alice_client, bob_client, charlie_client, team, alice, demo_gateway
):
    shared = make_conversation(team, alice, is_shared=True)
    data = make_audio("webm", seconds=1)
    attachment_id = _upload(alice_client, shared, data).json()["id"]
    response = _play(alice_client, shared, attachment_id)
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/webm"
    assert b"".join(response.streaming_content) == data
    # Not sent yet: only its maker hears it.
    assert _play(bob_client, shared, attachment_id).status_code == 404
    message = make_message(shared, content="hi", author=alice)
    Attachment.objects.filter(pk=attachment_id).update(message=message)
    assert _play(bob_client, shared, attachment_id).status_code == 200
    # Another team's member never does, whatever the ids.
    assert _play(charlie_client, shared, attachment_id).status_code == 404
    charlies = make_conversation(team, alice)
    assert _play(charlie_client, charlies, attachment_id).status_code == 404
    assert _play(alice_client, charlies, attachment_id).status_code == 404  # wrong conversation
    assert _play(alice_client, shared, "99999999999999999999999").status_code == 404
