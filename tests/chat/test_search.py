"""The sidebar search by words and by meaning, against the demo gateway on loopback: a
paraphrase is found by meaning, both kinds are labelled and open at the message, the query is
charged (and refused by a budget before it goes upstream), and nobody ever gets a hit from a
conversation they cannot read."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from chat import embedding_worker, search
from chat.models import MessageEmbedding
from tests.factories import make_conversation, make_membership, make_message, make_user
from usage.models import Price, TeamBudget, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = reverse("chat:search")
MODEL = "text-embedding-3-small"


@pytest.fixture(autouse=True)
def _embedding_settings(settings):
    settings.EMBEDDING_MODEL = MODEL
    settings.EMBEDDING_DIMENSIONS = 256
    embedding_worker._skipped.clear()
    embedding_worker._answered_dims.clear()
    search._cache.clear()
    yield
    search._cache.clear()


@pytest.fixture
def price(db):
    return Price.objects.create(model=MODEL, prompt_per_1k=Decimal("0.02"))


def embed_all() -> None:
    while async_to_sync(embedding_worker.embed_pass)():
        pass


def query_requests(gateway) -> list[dict]:
    return [r.json for r in gateway.requests if r.path == "/v1/embeddings"]


def hits_of(html: str) -> list[tuple[str, str]]:
    """(kind, href) of every message hit in a search answer."""
    items = re.findall(
        r'<li class="search-hit" data-search-kind="(\w+)">\s*<a class="search-hit-link" '
        r'href="([^"]+)"',
        html,
    )
    return [(kind, href) for kind, href in items]


def test_a_paraphrase_is_found_by_meaning_and_opens_at_the_message(
    demo_gateway, alice_client, team, alice, price
):
    trip = make_conversation(team, alice, title="Trip")
    wanted = make_message(trip, content="Our holiday plans for the summer trip to Portugal")
    other = make_conversation(team, alice, title="Work")
    make_message(other, content="Quarterly revenue report for the board")
    embed_all()

    html = alice_client.get(SEARCH, {"q": "planning a summer holiday"}).content.decode()

    url = reverse("chat:conversation", args=[trip.pk]) + f"#message-{wanted.pk}"
    assert hits_of(html) == [("meaning", url)]
    assert "by meaning" in html
    assert "Our holiday plans for the summer trip to Portugal" in html
    assert "Quarterly revenue" not in html


def test_both_kinds_are_labelled_words_first(demo_gateway, alice_client, team, alice, price):
    conversation = make_conversation(team, alice, title="Ops")
    exact = make_message(conversation, content="the kubernetes upgrade checklist")
    near = make_message(conversation, content="upgrading our kubernetes clusters", parent=exact)
    embed_all()

    html = alice_client.get(SEARCH, {"q": "kubernetes upgrade"}).content.decode()

    path = reverse("chat:conversation", args=[conversation.pk])
    assert hits_of(html) == [
        ("words", f"{path}#message-{exact.pk}"),
        ("meaning", f"{path}#message-{near.pk}"),
    ]
    assert "by words" in html and "by meaning" in html
    # The conversation found by its messages' words is labelled as such too.
    assert f'id="conversation-{conversation.pk.hex}" class="conversation-item" ' in html
    assert 'data-search-kind="words"' in html


def test_charlie_never_gets_a_hit_from_a_conversation_he_cannot_read(
    demo_gateway, charlie_client, team, alice, charlie, other_team, price
):
    dave = make_user("dave")
    make_membership(other_team, dave)
    shared_elsewhere = make_conversation(team, alice, title="Acme zebras", is_shared=True)
    make_message(shared_elsewhere, content="zebra migration notes secretalpha")
    private_teammate = make_conversation(other_team, dave, title="Dave zebras")
    make_message(private_teammate, content="zebra migration notes secretdave")
    own = make_conversation(other_team, charlie, title="My zebras")
    mine = make_message(own, content="zebra migration notes of charlie")
    shared_teammate = make_conversation(other_team, dave, title="Dave shared", is_shared=True)
    theirs = make_message(shared_teammate, content="zebra migration diary shared by dave")
    embed_all()
    assert MessageEmbedding.objects.count() == 4  # every message has a vector

    html = charlie_client.get(SEARCH, {"q": "migrating zebras"}).content.decode()

    assert "secretalpha" not in html and "secretdave" not in html
    assert "Acme zebras" not in html and "Dave zebras" not in html
    assert {href.rsplit("-", 1)[1] for _, href in hits_of(html)} == {str(mine.pk), str(theirs.pk)}
    for q in ("migrating zebras", "zebra migration notes"):
        results = search.search(charlie, other_team, q, role="owner")
        assert {hit.message_id for hit in results.hits} == {mine.pk, theirs.pk}
        assert {hit.conversation_id for hit in results.hits} == {own.pk, shared_teammate.pk}
    # Even the raw scan, asked for every vector, returns only what charlie may read.
    query = search.embed_query("zebra", user=charlie, team=other_team, role="owner")
    assert {pk for pk, _ in search.nearest(charlie, other_team, query, k=100)} <= {
        mine.pk,
        theirs.pk,
    }


def test_a_teammate_never_gets_a_hit_from_a_private_conversation(
    demo_gateway, bob_client, team, alice, bob, price
):
    private = make_conversation(team, alice, title="Alice private")
    make_message(private, content="the salary review for alice only")
    shared = make_conversation(team, alice, title="Alice shared", is_shared=True)
    visible = make_message(shared, content="the salary bands for everyone")
    embed_all()

    html = bob_client.get(SEARCH, {"q": "salaries review"}).content.decode()
    assert "alice only" not in html and "Alice private" not in html
    assert [href for _, href in hits_of(html)] == [
        reverse("chat:conversation", args=[shared.pk]) + f"#message-{visible.pk}"
    ]


def test_the_query_is_charged_once_to_the_member(demo_gateway, alice_client, team, alice, price):
    conversation = make_conversation(team, alice)
    make_message(conversation, content="notes about gardening tools")
    embed_all()
    before = len(query_requests(demo_gateway))

    alice_client.get(SEARCH, {"q": "garden tooling"})
    alice_client.get(SEARCH, {"q": "garden tooling"})  # the same again: not sent again

    assert len(query_requests(demo_gateway)) == before + 1
    record = UsageRecord.objects.filter(kind="embedding").order_by("-pk").first()
    assert record is not None
    assert (record.user_id, record.status, record.estimated) == (alice.pk, "settled", False)
    assert record.prompt_tokens == 4  # the demo's count for "garden tooling"


def test_a_budget_refusal_searches_by_words_and_sends_nothing(
    demo_gateway, alice_client, team, alice, price
):
    conversation = make_conversation(team, alice)
    make_message(conversation, content="notes about gardening tools")
    embed_all()
    before = len(query_requests(demo_gateway))
    TeamBudget.objects.create(team=team, monthly_limit=Decimal(0))

    html = alice_client.get(SEARCH, {"q": "gardening"}).content.decode()

    assert len(query_requests(demo_gateway)) == before
    assert [kind for kind, _ in hits_of(html)] == ["words"]
    assert "Search by meaning is paused" in html


def test_a_gateway_failure_falls_back_to_words(demo_gateway, alice_client, team, alice, price):
    conversation = make_conversation(team, alice)
    make_message(conversation, content="notes about gardening tools")
    embed_all()
    demo_gateway.scenario = "http_500"

    html = alice_client.get(SEARCH, {"q": "gardening"}).content.decode()

    assert [kind for kind, _ in hits_of(html)] == ["words"]
    assert UsageRecord.objects.filter(kind="embedding", status="refunded").count() == 1


def test_nothing_is_embedded_or_charged_while_no_message_has_a_vector(
    demo_gateway, alice_client, team, alice, price
):
    conversation = make_conversation(team, alice)
    make_message(conversation, content="notes about gardening tools")
    html = alice_client.get(SEARCH, {"q": "gardening"}).content.decode()
    assert query_requests(demo_gateway) == []
    assert [kind for kind, _ in hits_of(html)] == ["words"]


# The scan itself, on vectors written directly


def unit(values: list[float]) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def put(message, vector: np.ndarray, *, model: str = MODEL) -> None:
    MessageEmbedding.objects.create(
        message=message,
        team_id=message.conversation.team_id,
        conversation=message.conversation,
        model=model,
        dims=len(vector),
        vector=vector.astype("<f4").tobytes(),
    )
    search.vectors_changed(message.conversation.team_id, model)  # as the embedder does


def test_the_scan_ranks_by_cosine_and_keeps_up_with_new_and_deleted_rows(team, alice):
    conversation = make_conversation(team, alice)
    a = make_message(conversation, content="a")
    b = make_message(conversation, content="b")
    put(a, unit([1, 0, 0]))
    put(b, unit([1, 1, 0]))
    query = unit([1, 0.1, 0])

    assert [pk for pk, _ in search.nearest(alice, team, query, k=5)] == [a.pk, b.pk]

    c = make_message(conversation, content="c")
    put(c, unit([1, 0.1, 0]) * 3)  # not normalised when stored: the scan normalises
    found = search.nearest(alice, team, query, k=5)
    assert [pk for pk, _ in found] == [c.pk, a.pk, b.pk]
    assert found[0][1] == pytest.approx(1.0, abs=1e-5)

    c.delete()  # its vector goes with it, unannounced: the copy keeps it until a change...
    assert [hit.message_id for hit in search.meaning_hits(alice, team, query)] == [a.pk, b.pk]
    search.vectors_changed(team.pk, MODEL)  # ...and drops it at the next one
    assert [pk for pk, _ in search.nearest(alice, team, query, k=5)] == [a.pk, b.pk]
    # Far from everything: nothing is "about" it.
    assert search.nearest(alice, team, unit([0, 0, 1]), k=5) == []


def test_a_team_too_large_to_keep_is_streamed_with_the_same_answer(team, alice, bob, monkeypatch):
    mine = make_conversation(team, alice)
    private = make_conversation(team, bob)
    rng = np.random.default_rng(7)
    messages = []
    for i in range(30):
        message = make_message(private if i % 3 == 0 else mine, content=str(i))
        put(message, rng.standard_normal(8).astype(np.float32))
        messages.append(message)
    query = unit(list(rng.standard_normal(8)))
    monkeypatch.setattr(search, "MIN_SCORE", -1.0)
    kept = search.nearest(alice, team, query, k=6)
    assert search._cache

    search._cache.clear()
    monkeypatch.setattr(search, "CACHE_MAX_BYTES", 0)
    monkeypatch.setattr(search, "CHUNK_ROWS", 7)
    streamed = search.nearest(alice, team, query, k=6)

    assert not search._cache
    assert [pk for pk, _ in streamed] == [pk for pk, _ in kept]
    private_ids = {m.pk for i, m in enumerate(messages) if i % 3 == 0}
    assert not {pk for pk, _ in kept} & private_ids
    assert len(kept) == 6


def test_vectors_of_another_model_are_not_scanned(team, alice):
    conversation = make_conversation(team, alice)
    a = make_message(conversation, content="a")
    put(a, unit([1, 0, 0]), model="another-model")
    assert search.nearest(alice, team, unit([1, 0, 0]), k=5) == []


def test_without_pgvector_the_numpy_scan_is_used(team, alice):
    from django.db import connection

    assert search.uses_pgvector(connection.alias) is False


def test_snippets_centre_on_the_words_and_stay_short():
    text = "start " + "x" * 300 + " the needle here " + "y" * 300
    piece = search.snippet(text, "NEEDLE")
    assert "needle" in piece and piece.startswith("…") and piece.endswith("…")
    assert len(piece) <= search.SNIPPET_CHARS + 2


def test_loading_grows_past_the_rows_counted(team, alice, monkeypatch):
    """Rows committed between the count and the read still all land in the copy."""
    conversation = make_conversation(team, alice)
    for i in range(5):
        put(make_message(conversation, content=str(i)), unit([1, i, 0]))
    monkeypatch.setattr(search, "CHUNK_ROWS", 2)
    vectors = search._load(search._rows(team.pk, MODEL, 3), 3, expected=1)
    assert vectors.count == 5 and vectors.matrix.shape == (5, 3)
    assert np.allclose(np.linalg.norm(vectors.matrix, axis=1), 1.0)
    assert vectors.conversations == (conversation.pk,)
