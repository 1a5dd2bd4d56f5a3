"""A media job refused by the budget is never created and the user sees why: the form, a
button press or retry on a card, and a slash command in the composer."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from chat.models import Message
from media_jobs.models import MediaJob
from tests.factories import make_conversation, make_job
from tests.sockets import open_socket, receive_until, send_action
from usage.models import UsageRecord


@pytest.mark.django_db
def test_the_form_shows_the_budget_refusal_and_creates_nothing(team, alice_client, set_budget):
    set_budget(limit="0")

    response = alice_client.post(
        reverse("media_jobs:new", args=["imagine"]),
        {
            "prompt": "a fox",
            "aspect": "1:1",
            "speed": "relax",
            "idempotency_key": str(uuid.uuid4()),
        },
    )

    assert response.status_code == 400
    assert "monthly budget is used up" in response.content.decode()
    assert not MediaJob.objects.exists() and not UsageRecord.objects.exists()


@pytest.mark.django_db
def test_a_retry_over_budget_leaves_the_job_failed_and_says_why(
    team, alice, alice_client, set_budget
):
    job = make_job(team, alice, status=MediaJob.Status.FAILED)
    set_budget(limit="0")

    response = alice_client.post(reverse("media_jobs:retry", args=[job.pk]), follow=True)

    assert "monthly budget is used up" in response.content.decode()
    job.refresh_from_db()
    assert job.status == MediaJob.Status.FAILED


@pytest.mark.django_db
def test_an_htmx_retry_over_budget_reloads_the_page_to_show_why(
    team, alice, alice_client, set_budget
):
    job = make_job(team, alice, status=MediaJob.Status.FAILED)
    set_budget(limit="0")

    response = alice_client.post(
        reverse("media_jobs:retry", args=[job.pk]), headers={"HX-Request": "true"}
    )

    assert response.status_code == 204 and response["HX-Refresh"] == "true"
    page = alice_client.get(reverse("media_jobs:detail", args=[job.pk])).content.decode()
    assert "monthly budget is used up" in page


@pytest.mark.django_db(transaction=True)
async def test_a_slash_command_over_budget_is_refused_in_the_composer(
    team, alice, alice_cookie, set_budget
):
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    await database_sync_to_async(set_budget)(limit="0")
    tab, connected = await open_socket(conversation, alice_cookie)
    assert connected

    await send_action(tab, "send", text="/imagine a red fox")
    frames = await receive_until(tab, lambda frame: 'id="composer-error"' in frame)
    await tab.disconnect()

    assert "budget" in frames[-1]
    assert await database_sync_to_async(MediaJob.objects.count)() == 0
    assert await database_sync_to_async(Message.objects.count)() == 0
