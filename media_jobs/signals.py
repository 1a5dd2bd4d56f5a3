"""A conversation's jobs are exactly as shared as the conversation: when it is shared or
unshared (a save that may touch `is_shared`), its jobs follow. chat never imports
media_jobs; this receiver listens to chat's model from here.

`Conversation.objects.update(is_shared=...)` sends no signal: such code must call
media_jobs.services.sync_conversation_jobs itself.
"""

from __future__ import annotations

from django.db.models.signals import post_save


def conversation_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if created or (update_fields is not None and "is_shared" not in update_fields):
        return
    from media_jobs.services import sync_conversation_jobs

    sync_conversation_jobs(instance)


def connect() -> None:
    from chat.models import Conversation

    post_save.connect(conversation_saved, sender=Conversation, dispatch_uid="media_jobs_sharing")
