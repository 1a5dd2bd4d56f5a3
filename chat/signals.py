"""Signals other apps connect to, so they hook into the chat spine without editing it.

`reply_ended(sender=Message, message=..., status=...)`: a reply stopped being written with
`status` (a `Message.Status`); sent after its row is saved, once per reply. Usage accounting
connects here (for example a refund per interrupted reply). Sent today by
`chat.services.interrupt_reply`, through which the sweep for orphaned replies goes.
"""

from __future__ import annotations

from django.dispatch import Signal

reply_ended = Signal()
