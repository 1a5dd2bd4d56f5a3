"""Signals other apps connect to, so they hook into the chat spine without editing it.

`reply_ended(sender=Message, message=..., status=...)`: a reply stopped being written with
`status` (a `Message.Status`); sent after its row is saved and its charge made (the two
commit together), once per reply. Sent today by `chat.services.interrupt_reply`, through
which the sweep for orphaned replies goes. Money needs no listener: chat charges through
usage.services directly.

`content_viewed`: accounts.admin_audit's, named here too for chat's senders (the Team
admin's conversation export); the audit log (usage.audit) listens.
"""

from __future__ import annotations

from django.dispatch import Signal

from accounts.admin_audit import content_viewed

reply_ended = Signal()
__all__ = ["content_viewed", "reply_ended"]


def attachment_deleted(sender, instance, using: str, **kwargs) -> None:
    """A deleted Attachment row takes its stored file and thumbnail with it, once the deletion
    commits (a rollback keeps both). Connected in ChatConfig.ready(); post_delete fires for
    every row, in a cascade (a deleted conversation or message) too."""
    from functools import partial

    from django.db import transaction

    transaction.on_commit(partial(_delete_files, instance), using=using, robust=True)


def _delete_files(attachment) -> None:
    for field in (attachment.file, attachment.thumbnail):
        if field and field.name:
            field.storage.delete(field.name)
