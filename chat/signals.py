"""Signals other apps connect to, so they hook into the chat spine without editing it.

`reply_ended(sender=Message, message=..., status=...)`: a reply stopped being written with
`status` (a `Message.Status`); sent after its row is saved, once per reply. Usage accounting
connects here (for example a refund per interrupted reply). Sent today by
`chat.services.interrupt_reply`, through which the sweep for orphaned replies goes.

`content_viewed(sender=<model class>, request=..., obj=..., owner=..., action=...)`: a staff
member opened a member's content in the Django admin (a conversation or a message). The audit
log (usage) connects here.
"""

from __future__ import annotations

from django.dispatch import Signal

reply_ended = Signal()
content_viewed = Signal()
