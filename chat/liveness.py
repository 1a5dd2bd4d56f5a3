"""Which web processes are alive, so that the replies of one that died are ended by the others.

Each process has an id (PROCESS_ID). `begin_reply` stamps the reply it creates with it
(Message.owner, in the INSERT it already makes: no write per reply is added). In scale mode
every serving process renews its ServingProcess row every BEAT_SECONDS and then sweeps
(config.startup.sweep_orphaned_replies): a reply still `streaming` is an orphan when

- its owner has not beaten for STALE_SECONDS (the process died or hangs), or
- its owner is this process but no generation of this process writes it (one that gave up
  storing it, see chat.streaming), or
- it has no owner (a translation) and has been untouched for the live window, as before.

An orphan is ended as a restart ends it (chat.services.interrupt_reply: interrupted, its last
checkpoint kept, charged for what that delivered), and every tab is told through the
conversation's group (chat.events.REPLY_FINISHED, the same final frame an interrupted reply
gets), so its conversation takes messages again and it no longer counts against its member's
concurrent replies. A process dead just after a beat is found at most STALE_SECONDS +
BEAT_SECONDS later.

A database outage stops every process's beats at once. A sweeper whose own beats have failed
therefore ends other processes' replies only once its beats have succeeded again for
STALE_SECONDS: by then every live process has beaten too. A reply swept while its process was
in fact alive (a frozen event loop) is still stored whole by that process: see
chat.services.finish_reply.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.models import Message, ServingProcess

logger = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4().hex
BEAT_SECONDS = 5.0
STALE_SECONDS = 20.0
# Rows of processes gone this long are deleted (their replies were ended long before).
FORGET_AFTER = timedelta(days=1)


def beat(*, process_id: str | None = None, now: datetime | None = None) -> None:
    """Renew this process's row (one UPDATE; the first beat creates it)."""
    process_id = process_id or PROCESS_ID
    now = now or timezone.now()
    if not ServingProcess.objects.filter(pk=process_id).update(beat_at=now):
        ServingProcess.objects.update_or_create(
            pk=process_id,
            defaults={"beat_at": now},
            create_defaults={
                "beat_at": now,
                "started_at": now,
                "host": socket.gethostname()[:200],
                "pid": os.getpid(),
            },
        )


def forget(*, process_id: str | None = None) -> None:
    """A process stopping cleanly: its replies (if any are left) are orphans at once."""
    ServingProcess.objects.filter(pk=process_id or PROCESS_ID).delete()


def forget_old(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return ServingProcess.objects.filter(beat_at__lt=now - FORGET_AFTER).delete()[0]


def orphans(
    *,
    local_ids: Collection[int],
    others: bool = True,
    process_id: str | None = None,
    now: datetime | None = None,
) -> list[Message]:
    """The replies to end now (see the module's docstring), oldest first. `local_ids`: the
    replies this process's generations write; without `others`, only this process's own."""
    from chat.services import live_reply_window

    process_id = process_id or PROCESS_ID
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=STALE_SECONDS)
    # Young replies are left alone: their owner may not have beaten for the first time yet.
    old = Q(created_at__lt=cutoff)
    mine = old & Q(owner=process_id) & ~Q(pk__in=list(local_ids))
    which = mine
    if others:
        alive = ServingProcess.objects.filter(beat_at__gte=cutoff).values("pk")
        dead = old & ~Q(owner="") & ~Q(owner=process_id) & ~Q(owner__in=alive)
        unowned = Q(owner="", updated_at__lt=now - live_reply_window())
        which = mine | dead | unowned
    streaming = Message.objects.filter(which, status=Message.Status.STREAMING)
    return list(streaming.order_by("pk"))


def end_orphans(
    *,
    local_ids: Collection[int],
    others: bool = True,
    process_id: str | None = None,
    now: datetime | None = None,
) -> list[tuple[UUID, int]]:
    """End the orphans (chat.services.interrupt_reply, one transaction each); return the
    (conversation id, message id) of each ended here, for the tabs to be told."""
    from chat.services import interrupt_reply

    error = _("Parlor restarted while this reply was being written.")
    ended = []
    for message in orphans(local_ids=local_ids, others=others, process_id=process_id, now=now):
        if interrupt_reply(message, error=error):
            ended.append((message.conversation_id, message.pk))
    return ended


def end_orphan_of(*, conversation_id: UUID | str, now: datetime | None = None) -> int | None:
    """Stop pressed in a process that does not write the conversation's reply: if that reply
    is an orphan (its owner has not beaten for STALE_SECONDS), end it now rather than at the
    next sweep. The message id ended, or None."""
    from chat.services import interrupt_reply

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=STALE_SECONDS)
    alive = ServingProcess.objects.filter(beat_at__gte=cutoff).values("pk")
    reply = (
        Message.objects.filter(
            conversation_id=conversation_id,
            status=Message.Status.STREAMING,
            created_at__lt=cutoff,
        )
        .exclude(owner="")
        .exclude(owner__in=alive)
        .first()
    )
    error = _("Parlor restarted while this reply was being written.")
    if reply is not None and interrupt_reply(reply, error=error):
        return reply.pk
    return None
