"""The Attachment row: stored under a random name, and its files go with it once the
deletion commits (a rollback keeps them)."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from chat.models import Attachment
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _attachment(conversation, name="../../etc/passwd.png") -> Attachment:
    attachment = Attachment(conversation=conversation, kind=Attachment.Kind.IMAGE,
                            content_type="image/png", name=name)  # fmt: skip
    attachment.file.save(name, ContentFile(b"\x89PNG\r\n\x1a\n"), save=False)
    attachment.thumbnail.save("t.png", ContentFile(b"\x89PNG\r\n\x1a\n"), save=False)
    attachment.save()
    return attachment


def test_the_uploaders_file_name_is_not_the_stored_path(team, alice):
    attachment = _attachment(make_conversation(team, alice))

    assert attachment.file.name.startswith("attachments/")
    assert ".." not in attachment.file.name and "passwd" not in attachment.file.name
    assert attachment.file.name.endswith(".png")


def test_deleting_the_conversation_deletes_the_files_after_the_commit(team, alice):
    conversation = make_conversation(team, alice)
    attachment = _attachment(conversation)
    storage, names = attachment.file.storage, [attachment.file.name, attachment.thumbnail.name]

    with pytest.raises(RuntimeError), transaction.atomic():
        type(conversation).objects.filter(pk=conversation.pk).delete()
        raise RuntimeError("rolled back")
    assert all(storage.exists(name) for name in names)

    type(conversation).objects.filter(pk=conversation.pk).delete()
    assert not any(storage.exists(name) for name in names)
