"""Signals other apps connect to, so they hook into the chat spine without editing it.

`reply_ended(sender=Message, message=..., status=...)`: a reply stopped being written with
`status` (a `Message.Status`); sent after its row is saved and its charge made (the two
commit together), once per reply. Sent today by `chat.services.interrupt_reply`, through
which the sweep for orphaned replies goes. Money needs no listener: chat charges through
usage.services directly.

`content_viewed(sender=<model class>, request=..., obj=..., owner=..., action=...)`: a staff
member opened a member's content in the Django admin (a conversation or a message). The audit
log (usage.audit) is connected in ChatConfig.ready().
"""

from __future__ import annotations

from django.dispatch import Signal

reply_ended = Signal()
content_viewed = Signal()
