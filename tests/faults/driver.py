"""The fault suite's hands in the stack's database: `python -m tests.faults.driver`, with the
stack's environment, reads one JSON command a line and answers one JSON line. One Django
for the whole suite (a process per question would cost seconds each); its connection is
checked before every command, so it outlives a PostgreSQL restart like the stack does."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()


def seed() -> dict[str, Any]:
    from django.test import Client

    from tests.factories import make_conversation, make_team, make_user

    user = make_user("faults")
    team = make_team("Faults", owner=user)
    conversation = make_conversation(team, user)
    client = Client()
    client.force_login(user)
    return {
        "user": user.pk,
        "team": team.pk,
        "conversation": str(conversation.pk),
        "sessionid": client.cookies["sessionid"].value,
    }


def create_job(user: int, team: int, prompt: str, conversation: str | None = None) -> str:
    from accounts.models import Membership, User
    from chat.models import Conversation
    from media_jobs import services

    owner = User.objects.get(pk=user)
    job = services.create_job(
        user=owner,
        membership=Membership.objects.get(user=owner, team_id=team),
        kind="midjourney",
        action="IMAGINE",
        prompt=prompt,
        conversation=Conversation.objects.get(pk=conversation) if conversation else None,
    )
    return str(job.pk)


def jobs() -> list[dict[str, Any]]:
    from media_jobs.models import MediaJob

    fields = ("id", "prompt", "status", "upstream_id", "lease_owner", "poll_failures", "error")
    rows = MediaJob.objects.order_by("created_at").values(*fields, "finished_at", "updated_at")
    return [
        {**{f: str(row[f]) if f == "id" else row[f] for f in fields},
         "finished": row["finished_at"].timestamp() if row["finished_at"] else None}
        for row in rows
    ]  # fmt: skip


def check(team: int) -> dict[str, Any]:
    """The ledger balances; one charge per job and per reply; messages as stored."""
    from django.db.models import Count

    from accounts.models import Team
    from chat.models import Message
    from tests.usage.ledger import assert_ledger_balances
    from usage.models import UsageRecord

    assert_ledger_balances(Team.objects.get(pk=team))
    per_job = UsageRecord.objects.filter(team_id=team, job__isnull=False).values("job")
    doubled = per_job.annotate(n=Count("pk")).filter(n__gt=1)
    messages = Message.objects.filter(conversation__team_id=team).order_by("pk")
    return {
        "records": UsageRecord.objects.filter(team_id=team).count(),
        "doubled_job_charges": list(doubled.values_list("job", flat=True)),
        "messages": [
            {"id": m.pk, "role": m.role, "status": m.status, "text": m.content[:80]}
            for m in messages
        ],
    }


COMMANDS = {"seed": seed, "create_job": create_job, "jobs": jobs, "check": check}


def main() -> None:
    setup()
    from django.db import close_old_connections, connection

    for line in sys.stdin:
        request = json.loads(line)
        close_old_connections()
        try:
            connection.ensure_connection()
            answer = {"ok": COMMANDS[request["command"]](**request.get("args", {}))}
        except Exception as exc:
            connection.close()  # a restarted database: a new connection next time
            answer = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
