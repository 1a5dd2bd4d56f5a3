"""A conversation's jobs are exactly as shared as the conversation: when it is shared or
unshared (a save that may touch `is_shared`), its jobs follow. chat never imports
media_jobs; this receiver listens to chat's model from here.

`Conversation.objects.update(is_shared=...)` sends no signal: such code must call
media_jobs.services.sync_conversation_jobs itself.

A deleted MediaFile row takes its stored file and thumbnail with it, once the deletion
commits (a rollback keeps both). post_delete fires for every row, also in a cascade (a
deleted conversation or job) and a queryset delete: a receiver turns off the fast delete.
A deleted JobUpload (a job's picture) takes its file the same way.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete, post_save


def conversation_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if created or (update_fields is not None and "is_shared" not in update_fields):
        return
    from media_jobs.services import sync_conversation_jobs

    sync_conversation_jobs(instance)


def media_file_deleted(sender, instance, using: str, **kwargs) -> None:
    from media_jobs.storage import delete_stored_files

    transaction.on_commit(partial(delete_stored_files, instance), using=using, robust=True)


def upload_deleted(sender, instance, using: str, **kwargs) -> None:
    from media_jobs.uploads import delete_files

    transaction.on_commit(partial(delete_files, [instance]), using=using, robust=True)


def connect() -> None:
    from chat.models import Conversation
    from media_jobs.models import JobUpload, MediaFile

    post_save.connect(conversation_saved, sender=Conversation, dispatch_uid="media_jobs_sharing")
    post_delete.connect(media_file_deleted, sender=MediaFile, dispatch_uid="media_jobs_files")
    post_delete.connect(upload_deleted, sender=JobUpload, dispatch_uid="media_jobs_uploads")
