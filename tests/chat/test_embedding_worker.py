"""The embedder against the demo gateway on loopback: batches within limits, charged per
input token, resumes after a restart without embedding anything twice, re-embeds when the
model changes, and a team whose budget refuses waits without holding up the others."""

from __future__ import annotations

import asyncio
import struct
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from chat import embedding_worker, search
from chat.models import Message, MessageEmbedding
from tests.factories import make_conversation, make_message
from usage.models import Price, TeamBudget, UsageRecord

# The worker reaches the database through database_sync_to_async: outside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "text-embedding-3-small"


@pytest.fixture(autouse=True)
def _embedding_settings(settings):
    settings.EMBEDDING_MODEL = MODEL
    settings.EMBEDDING_DIMENSIONS = 64
    restart()
    yield
    restart()


def restart() -> None:
    """What a new process starts with: nothing in memory."""
    embedding_worker._skipped.clear()
    embedding_worker._answered_dims.clear()
    search._cache.clear()


@pytest.fixture
def price(db):
    return Price.objects.create(model=MODEL, prompt_per_1k=Decimal("0.02"))


def embedding_requests(gateway) -> list[dict]:
    return [r.json for r in gateway.requests if r.path == "/v1/embeddings"]


def embed_pass() -> int:
    return async_to_sync(embedding_worker.embed_pass)()


def make_messages(team, user, count: int, *, prefix: str = "note", **extra) -> list[Message]:
    conversation = make_conversation(team, user, title=f"{prefix} chat", **extra)
    parent = None
    messages = []
    for i in range(count):
        role = Message.Role.USER if i % 2 == 0 else Message.Role.ASSISTANT
        parent = make_message(
            conversation, role=role, content=f"{prefix} number {i} about gardens", parent=parent
        )
        messages.append(parent)
    return messages


def test_messages_are_embedded_in_batches_within_the_limits(
    demo_gateway, team, alice, price, monkeypatch
):
    monkeypatch.setattr(embedding_worker, "BATCH_INPUTS", 4)
    messages = make_messages(team, alice, 10)

    assert embed_pass() == 10

    requests = embedding_requests(demo_gateway)
    assert [len(body["input"]) for body in requests] == [4, 4, 2]
    assert all(body["model"] == MODEL and body["dimensions"] == 64 for body in requests)
    sent = [text for body in requests for text in body["input"]]
    assert sent == [m.content for m in messages]  # oldest first, each once
    rows = MessageEmbedding.objects.order_by("message_id")
    assert [row.message_id for row in rows] == [m.pk for m in messages]
    for row in rows:
        assert (row.model, row.dims, row.team_id) == (MODEL, 64, team.pk)
        assert len(bytes(row.vector)) == 64 * 4
        assert row.conversation_id == messages[0].conversation_id
    records = UsageRecord.objects.filter(kind=UsageRecord.Kind.EMBEDDING).order_by("pk")
    assert len(records) == 3
    for record, body in zip(records, requests, strict=True):
        tokens = sum(max(1, -(-len(t) // 4)) for t in body["input"])  # the demo's count
        assert record.status == UsageRecord.Status.SETTLED
        assert record.estimated is False
        assert record.prompt_tokens == tokens
        assert record.cost == (Decimal(tokens) * Decimal("0.02") / 1000).quantize(
            Decimal("0.000001")
        )
        assert (record.user_id, record.team_id, record.model) == (alice.pk, team.pk, MODEL)


def test_long_texts_are_cut_and_requests_stay_within_the_token_budget(
    demo_gateway, team, alice, price, monkeypatch
):
    monkeypatch.setattr(embedding_worker, "INPUT_CHARS", 100)
    monkeypatch.setattr(embedding_worker, "BATCH_TOKENS", 60)
    conversation = make_conversation(team, alice)
    for i in range(5):
        make_message(conversation, content=f"{i} " + "word " * 200)

    assert embed_pass() == 5

    requests = embedding_requests(demo_gateway)
    assert all(len(text) <= 100 for body in requests for text in body["input"])
    for body in requests:
        assert sum(embedding_worker.estimate_tokens(t) for t in body["input"]) <= 60
    assert sum(len(body["input"]) for body in requests) == 5


def test_only_what_members_wrote_and_complete_replies_are_embedded(
    demo_gateway, team, alice, price
):
    conversation = make_conversation(team, alice)
    kept = make_message(conversation, content="a question")
    make_message(conversation, role="assistant", content="half a rep", status="streaming")
    make_message(conversation, role="assistant", content="", status="complete")
    make_message(conversation, role="assistant", content="failed", status="failed")

    assert embed_pass() == 1
    assert list(MessageEmbedding.objects.values_list("message_id", flat=True)) == [kept.pk]


def test_a_restart_resumes_where_it_stopped_and_embeds_nothing_twice(
    demo_gateway, team, alice, price, monkeypatch
):
    monkeypatch.setattr(embedding_worker, "BATCH_INPUTS", 5)
    messages = make_messages(team, alice, 10)
    group = (team.pk, alice.pk)
    first = embedding_worker.batches_of(MODEL, group)[0]
    # The process stops after its first request was stored.
    assert async_to_sync(embedding_worker.embed_batch)(first, MODEL) == 5
    assert MessageEmbedding.objects.count() == 5
    restart()

    assert embed_pass() == 5
    assert embed_pass() == 0  # nothing left

    sent = [text for body in embedding_requests(demo_gateway) for text in body["input"]]
    assert sorted(sent) == sorted(m.content for m in messages)  # each once
    assert MessageEmbedding.objects.count() == 10
    assert UsageRecord.objects.filter(kind="embedding", status="settled").count() == 2


def test_a_failed_request_is_refunded_and_retried_later(demo_gateway, team, alice, price):
    make_messages(team, alice, 3)
    demo_gateway.scenario = "http_500"

    assert embed_pass() == 0

    record = UsageRecord.objects.get(kind="embedding")
    assert record.status == UsageRecord.Status.REFUNDED
    assert MessageEmbedding.objects.count() == 0
    assert (team.pk, alice.pk) in embedding_worker._skipped
    demo_gateway.scenario = None
    embedding_worker._skipped.clear()  # the wait is over
    assert embed_pass() == 3


def test_changing_the_model_re_embeds_every_message(demo_gateway, team, alice, price, settings):
    messages = make_messages(team, alice, 4)
    assert embed_pass() == 4
    old = {row.message_id: row.pk for row in MessageEmbedding.objects.all()}

    settings.EMBEDDING_MODEL = "text-embedding-ada-002"
    assert embed_pass() == 4
    assert embed_pass() == 0

    rows = list(MessageEmbedding.objects.all())
    assert len(rows) == 4  # replaced, not added
    assert {row.model for row in rows} == {"text-embedding-ada-002"}
    assert {row.message_id for row in rows} == {m.pk for m in messages}
    assert not set(old.values()) & {row.pk for row in rows}
    last = embedding_requests(demo_gateway)[-1]
    assert last["model"] == "text-embedding-ada-002"
    assert "dimensions" not in last  # only text-embedding-3-* take it
    assert rows[0].dims == 1536  # the model's own width (the demo's)


def test_changing_the_width_re_embeds_too(demo_gateway, team, alice, price, settings):
    make_messages(team, alice, 2)
    assert embed_pass() == 2
    settings.EMBEDDING_DIMENSIONS = 32
    assert embed_pass() == 2
    assert set(MessageEmbedding.objects.values_list("dims", flat=True)) == {32}
    assert embed_pass() == 0


def test_a_team_whose_budget_refuses_waits_and_the_others_go_on(
    demo_gateway, team, alice, charlie, other_team, price
):
    TeamBudget.objects.create(team=team, monthly_limit=Decimal(0))
    alices = make_messages(team, alice, 3, prefix="alice")
    charlies = make_messages(other_team, charlie, 3, prefix="charlie")

    assert embed_pass() == 3

    embedded = set(MessageEmbedding.objects.values_list("message_id", flat=True))
    assert embedded == {m.pk for m in charlies}
    sent = [text for body in embedding_requests(demo_gateway) for text in body["input"]]
    assert not any(text.startswith("alice") for text in sent)  # nothing went upstream
    assert not UsageRecord.objects.filter(team=team).exists()
    assert embed_pass() == 0  # still waiting: not asked again at once

    TeamBudget.objects.filter(team=team).update(monthly_limit=None)
    embedding_worker._skipped.clear()  # REFUSED_RETRY_SECONDS later
    assert embed_pass() == 3
    assert MessageEmbedding.objects.filter(message__in=alices).count() == 3


def test_vectors_are_little_endian_float32_of_unit_length(demo_gateway, team, alice, price):
    make_messages(team, alice, 1)
    embed_pass()
    row = MessageEmbedding.objects.get()
    values = struct.unpack(f"<{row.dims}f", bytes(row.vector))
    assert abs(sum(v * v for v in values) - 1.0) < 1e-4


def test_the_embedder_runs_in_the_web_process_and_beside_the_media_poller():
    from config import startup
    from media_jobs import worker

    assert embedding_worker.run_embedded_embedder in startup.BACKGROUND
    assert "embedding_worker.ensure_running()" in Path(worker.__file__).read_text()


async def test_a_message_saved_complete_wakes_the_embedder(team, alice):
    from channels.db import database_sync_to_async

    event = embedding_worker._event()
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    await database_sync_to_async(make_message)(
        conversation, role="assistant", content="", status="streaming"
    )
    await asyncio.sleep(0.01)
    assert not event.is_set()  # nothing to embed yet
    await database_sync_to_async(make_message)(conversation, content="a question")
    await asyncio.sleep(0.01)
    assert event.is_set()


def test_a_deadlocked_store_is_tried_again_and_charged_once(
    demo_gateway, team, alice, price, monkeypatch
):
    """On PostgreSQL the store can lose a deadlock to a reply's final save (both lock the
    team's month and the conversation, in opposite orders): the batch is stored on the next
    try, not left reserved for the sweep and embedded and charged again."""
    from django.db import OperationalError

    make_messages(team, alice, 3)
    real_store, calls = embedding_worker.store, []

    def deadlocks_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(embedding_worker, "store", deadlocks_once)
    monkeypatch.setattr(embedding_worker, "STORE_RETRY_SECONDS", 0.0)

    assert embed_pass() == 3

    assert len(calls) == 2
    assert len(embedding_requests(demo_gateway)) == 1  # sent upstream once
    record = UsageRecord.objects.get(kind="embedding")
    assert record.status == UsageRecord.Status.SETTLED
    assert MessageEmbedding.objects.count() == 3
