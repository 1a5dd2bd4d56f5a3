"""A gateway that does not answer the polls (down, a 500, a web page with a 200, too slow):
the cards say so after two unanswered polls in a row, the jobs are polled again within a few
seconds all along, and the notice goes as soon as a poll is answered."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from demo_gateway.scenarios import Reply, console_page
from media_jobs import poller
from media_jobs.models import POLL_FAILURE_NOTICE, POLL_MAX_SECONDS, POLL_OUTAGE_SECONDS, MediaJob
from tests.media_jobs.conftest import new_job, run_pass

pytestmark = pytest.mark.django_db(transaction=True)
Status = MediaJob.Status
NOTICE = "reach the gateway since"


def _fail_with(gateway, how: str) -> None:
    answer = gateway.media.answer

    def failing(request, request_id, authorized, base):
        if "/submit/" in request.path:
            return answer(request, request_id, authorized, base)
        if how == "500":
            return Reply(500, b'{"error": {"message": "upstream broke"}}')
        if how == "html_200":
            return console_page()
        time.sleep(0.3)  # "slow": past FETCH_SECONDS below
        return answer(request, request_id, authorized, base)

    gateway.media.answer = failing


def _answer_again(gateway) -> None:
    del gateway.media.answer  # the instance attribute _fail_with set: the class's again
    poller.FETCH_SECONDS = 10.0  # the slow answers still under way must not count


@pytest.fixture(autouse=True)
def _gateway_answers_again_after(media):
    fetch_seconds = poller.FETCH_SECONDS
    yield
    media.media.__dict__.pop("answer", None)
    poller.FETCH_SECONDS = fetch_seconds


def _card(client, job) -> str:
    return client.get(reverse("media_jobs:card", args=[job.pk])).content.decode()


@pytest.fixture
def pushed(monkeypatch) -> list:
    """The ids of the jobs whose card the poller refreshes (media_jobs.live), in order."""
    seen: list = []

    async def record(job: MediaJob) -> None:
        seen.append(job.pk)

    monkeypatch.setattr(poller, "_push", record)
    return seen


@pytest.mark.parametrize("how", ["500", "html_200", "slow"])
def test_unanswered_polls_show_on_the_card_and_end_when_answered(
    media, team, alice, alice_client, monkeypatch, pushed, how
):
    poller.FETCH_SECONDS = 0.1
    job = new_job(alice, team)
    run_pass()  # submitted
    job.refresh_from_db()
    assert job.status == Status.SUBMITTED
    pushed.clear()
    _fail_with(media, how)

    run_pass()
    job.refresh_from_db()
    assert job.poll_failures == 1 and job.unreachable_since is not None
    assert NOTICE not in _card(alice_client, job)  # one miss may be a blip
    assert pushed == []

    run_pass()
    job.refresh_from_db()
    assert job.poll_failures == POLL_FAILURE_NOTICE and job.gateway_unreachable
    assert NOTICE in _card(alice_client, job)
    assert pushed == [job.pk]  # the card is refreshed
    pushed.clear()

    _answer_again(media)  # the gateway is back: the task moved on meanwhile
    media.clock.advance(30)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.poll_failures == 0 and job.unreachable_since is None
    assert NOTICE not in _card(alice_client, job)
    assert set(pushed) == {job.pk}  # ended, then its copies stored: each pushed


def test_the_notice_goes_when_a_poll_is_answered_even_with_nothing_new(
    media, team, alice, alice_client, monkeypatch, pushed
):
    job = new_job(alice, team)
    run_pass()
    media.clock.advance(3)
    run_pass()  # running
    pushed.clear()
    _fail_with(media, "500")
    run_pass()
    run_pass()
    pushed.clear()
    _answer_again(media)
    run_pass()  # answered, progress unchanged (the clock stood still)
    job.refresh_from_db()
    assert job.status == Status.RUNNING and not job.gateway_unreachable
    assert NOTICE not in _card(alice_client, job)
    assert pushed == [job.pk]


def test_while_unanswered_a_job_is_polled_again_within_seconds_however_backed_off(
    media, team, alice, monkeypatch
):
    """A 30 s task whose polls had backed off to 15 s is seen within a few seconds of the
    gateway coming back, not a full back-off later."""
    job = new_job(alice, team)
    run_pass()
    MediaJob.objects.filter(pk=job.pk).update(poll_interval=POLL_MAX_SECONDS)
    _fail_with(media, "500")
    for _ in range(3):
        before = timezone.now()
        run_pass()
        job.refresh_from_db()
        assert job.next_poll_at is not None
        assert job.next_poll_at - before <= timedelta(seconds=POLL_OUTAGE_SECONDS + 1)


def test_a_job_is_never_seen_ended_with_the_notice_still_on(media, team, alice, monkeypatch):
    """The count is cleared before the answer is applied: the result copy (which can take a
    while) comes after the job ended, and by then the notice is gone."""
    job = new_job(alice, team)
    run_pass()
    _fail_with(media, "500")
    run_pass()
    run_pass()
    seen_during_copy: list[int] = []
    copy = poller._copy

    async def watching(copied: MediaJob, *args) -> None:
        row = await MediaJob.objects.aget(pk=copied.pk)
        seen_during_copy.append(row.poll_failures)
        await copy(copied, *args)

    monkeypatch.setattr(poller, "_copy", watching)
    _answer_again(media)
    media.clock.advance(30)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert seen_during_copy == [0]
