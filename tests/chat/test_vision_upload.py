"""Attaching images over HTTP (chat.views_attachments): who may, what is refused in plain
words, and who may see them afterwards."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat import attachments
from chat.models import Attachment
from tests.chat.images import claims_size, decode, picture, upload
from tests.factories import make_conversation, make_message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice)


def _attach(client, conversation, *files):
    return client.post(reverse("chat:attach", args=[conversation.pk]), {"images": list(files)})


def _file_url(attachment, variant="file"):
    return reverse("chat:attachment", args=[attachment.conversation_id, attachment.pk, variant])


def test_an_upload_answers_with_the_tray_carrying_the_ids(alice_client, conversation, alice):
    response = _attach(
        alice_client, conversation, upload(picture("PNG", (300, 200)), "cat.png"),
        upload(picture("JPEG"), "dog.jpg", "image/jpeg"),
    )  # fmt: skip

    assert response.status_code == 200
    rows = list(Attachment.objects.order_by("pk"))
    assert [(a.name, a.uploaded_by, a.message, a.kind) for a in rows] == [
        ("cat.png", alice, None, "image"),
        ("dog.jpg", alice, None, "image"),
    ]
    content = response.content.decode()
    assert 'id="attachment-tray"' in content
    for row in rows:
        assert f'<input type="hidden" name="attachments" value="{row.pk}">' in content
        assert _file_url(row, "thumb") in content
    assert rows[0].width == 300 and rows[0].height == 200


def test_the_type_comes_from_the_bytes_not_the_name(alice_client, conversation):
    png_named_jpg = upload(picture("PNG", colour=(0, 0, 0, 0)), "photo.jpg", "image/jpeg")
    svg_named_png = upload(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "evil.png")
    html_named_gif = upload(b"<html><script>alert(1)</script></html>", "evil.gif", "image/gif")

    response = _attach(alice_client, conversation, png_named_jpg, svg_named_png, html_named_gif)

    assert response.status_code == 400
    (stored,) = Attachment.objects.all()
    assert stored.name == "photo.jpg" and stored.content_type == "image/png"
    assert stored.file.name.endswith(".png")
    content = response.content.decode()
    assert "evil.png: This is not a picture Parlor can read" in content
    assert "evil.gif: This is not a picture Parlor can read" in content


def test_an_empty_file_and_a_bomb_are_refused_in_plain_words(alice_client, conversation):
    response = _attach(
        alice_client, conversation, upload(b"", "empty.png"), upload(claims_size(50_000, 50_000))
    )

    assert response.status_code == 400
    assert not Attachment.objects.exists()
    content = response.content.decode()
    assert "The file is empty." in content
    assert "The picture is too large" in content


def test_a_file_over_the_size_cap_is_not_read(alice_client, conversation, settings):
    settings.ATTACHMENT_MAX_MB = 0.01  # about 10 KB
    big = upload(picture("BMP", (100, 100)), "big.png")  # 30 KB

    response = _attach(alice_client, conversation, big, upload(picture("PNG"), "small.png"))

    assert response.status_code == 400
    assert "big.png is larger than 0.01 MB." in response.content.decode()
    assert [a.name for a in Attachment.objects.all()] == ["small.png"]


def test_a_request_too_large_for_any_message_is_refused_before_parsing(
    alice_client, conversation, settings
):
    settings.ATTACHMENT_MAX_MB = 0.001
    settings.ATTACHMENT_MAX_FILES = 2

    response = _attach(alice_client, conversation, upload(b"x" * 200_000, "huge.png"))

    assert response.status_code == 413
    assert "too much at once" in response.content.decode()
    assert not Attachment.objects.exists()


def test_fifty_files_are_refused_and_none_stored(alice_client, conversation):
    files = [upload(picture("PNG", (8, 8)), f"{i}.png") for i in range(50)]

    response = _attach(alice_client, conversation, *files)

    assert response.status_code == 400
    assert "at most 10 images" in response.content.decode()
    assert not Attachment.objects.exists()


def test_the_limit_counts_the_images_already_attached(alice_client, conversation, settings):
    settings.ATTACHMENT_MAX_FILES = 3
    _attach(alice_client, conversation, *[upload(picture(), f"{i}.png") for i in range(2)])

    response = _attach(alice_client, conversation, *[upload(picture(), "x.png") for _ in range(2)])

    assert "at most 3 images" in response.content.decode()
    assert Attachment.objects.count() == 2


def test_nothing_attached_says_so(alice_client, conversation):
    response = alice_client.post(reverse("chat:attach", args=[conversation.pk]))

    assert response.status_code == 400
    assert "Choose an image to attach." in response.content.decode()


def test_the_upload_needs_the_csrf_token(alice, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = _attach(client, conversation, upload(picture()))

    assert response.status_code == 403
    assert not Attachment.objects.exists()


def test_only_the_conversations_writer_may_attach(
    bob_client, charlie_client, victor_client, conversation, client
):
    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])

    assert _attach(bob_client, conversation, upload(picture())).status_code == 403
    assert _attach(victor_client, conversation, upload(picture())).status_code == 403
    assert _attach(charlie_client, conversation, upload(picture())).status_code == 404
    assert _attach(client, conversation, upload(picture())).status_code == 302  # to the login
    assert not Attachment.objects.exists()


def _sent_image(conversation, alice) -> Attachment:
    message = make_message(conversation, content="Look", author=alice)
    _attach_as(conversation, alice)
    image = Attachment.objects.get()
    attachments.link([image], message)
    return image


def _attach_as(conversation, user) -> None:
    errors = attachments.attach_images(
        conversation=conversation, user=user, files=[upload(picture("PNG", (120, 90)))]
    )
    assert errors == []


def test_the_image_and_its_thumbnail_are_served_inline_with_their_type(
    alice_client, conversation, alice
):
    image = _sent_image(conversation, alice)

    full = alice_client.get(_file_url(image))
    thumb = alice_client.get(_file_url(image, "thumb"))

    assert full.status_code == 200 and thumb.status_code == 200
    assert full["Content-Type"] == "image/jpeg"
    assert full["X-Content-Type-Options"] == "nosniff"
    assert full["Content-Disposition"].startswith("inline")
    assert decode(b"".join(full.streaming_content)).size == (120, 90)
    assert alice_client.get(_file_url(image, "other")).status_code == 404


def test_another_teams_member_cannot_open_an_attachment(
    charlie_client, bob_client, conversation, alice
):
    image = _sent_image(conversation, alice)

    assert charlie_client.get(_file_url(image)).status_code == 404
    assert charlie_client.get(_file_url(image, "thumb")).status_code == 404
    assert bob_client.get(_file_url(image)).status_code == 404  # private to alice

    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])
    assert bob_client.get(_file_url(image)).status_code == 200
    assert charlie_client.get(_file_url(image)).status_code == 404


def test_an_attachment_is_reached_only_through_its_own_conversation(
    charlie_client, charlie, other_team, conversation, alice
):
    image = _sent_image(conversation, alice)
    charlies = make_conversation(other_team, charlie)

    url = reverse("chat:attachment", args=[charlies.pk, image.pk, "file"])
    assert charlie_client.get(url).status_code == 404


def test_an_image_not_sent_yet_is_its_uploaders_alone(
    alice_client, bob_client, conversation, alice
):
    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])
    _attach_as(conversation, alice)
    pending = Attachment.objects.get()

    assert alice_client.get(_file_url(pending)).status_code == 200
    assert bob_client.get(_file_url(pending)).status_code == 404


def test_an_image_not_sent_yet_can_be_taken_back(alice_client, conversation, alice):
    _attach_as(conversation, alice)
    pending = Attachment.objects.get()

    url = reverse("chat:detach", args=[conversation.pk, pending.pk])
    response = alice_client.post(url)

    assert response.status_code == 200
    assert not Attachment.objects.exists()
    assert 'name="attachments"' not in response.content.decode()


def test_a_sent_image_cannot_be_taken_back(alice_client, conversation, alice):
    image = _sent_image(conversation, alice)

    alice_client.post(reverse("chat:detach", args=[conversation.pk, image.pk]))

    assert Attachment.objects.filter(pk=image.pk).exists()


def test_the_page_shows_the_images_not_sent_yet_and_the_sent_ones(
    alice_client, conversation, alice
):
    image = _sent_image(conversation, alice)
    _attach_as(conversation, alice)
    pending = Attachment.objects.exclude(pk=image.pk).get()

    content = alice_client.get(conversation.get_absolute_url()).content.decode()

    assert f'<input type="hidden" name="attachments" value="{pending.pk}">' in content
    assert f'name="attachments" value="{image.pk}"' not in content
    assert f'href="{_file_url(image)}"' in content  # the full-size view of the sent one
    assert 'class="message-images"' in content
    assert '<label for="composer-images"' in content and "Attach images</label>" in content


def test_a_private_copy_has_copies_of_the_images(conversation, alice, bob):
    from chat import services

    image = _sent_image(conversation, alice)
    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])

    fork = services.fork_conversation(conversation=conversation, user=bob)

    (copy,) = Attachment.objects.filter(conversation=fork)
    assert copy.message.conversation_id == fork.pk and copy.message.content == "Look"
    assert copy.file.name != image.file.name
    assert copy.file.read() == image.file.read()  # its own file: a deletion takes one only
