"""Search-by-meaning benchmark: 100,000 messages of one team, Parlor's scan next to a plain
NumPy scan of the same vectors in the same run.

    python benchmarks/search_meaning.py                  # 100,000 messages, 512-d, 200 queries
    python benchmarks/search_meaning.py --dims 1536      # text-embedding-3-small's own width
    python benchmarks/search_meaning.py --messages 20000 --queries 50

A temporary SQLite database (embedded mode) gets one team: alice, who owns 80 % of the
conversations, and bob, whose private 20 % alice may not see; 100 messages a conversation,
each with a random unit vector written as chat.MessageEmbedding rows (bulk inserts). The
query embedding is stubbed: each query is a stored vector plus noise, passed straight in, so
what is measured is Parlor's side of a search by meaning, not the gateway.

- **Parlor**: `chat.search.meaning_hits(alice, team, query)`: the freshness check of the
  process's copy of the team's vectors (one COUNT/MAX query), alice's visible conversations,
  the masked product, the top 10 and loading those messages (with their conversations)
  through the visibility filter. The first search (which loads the vectors) is timed
  apart, as "first search".
- **plain**: the same vectors already in memory as one normalised float32 matrix, `M @ q`
  and `argpartition` for the top 10: no database, no visibility, no messages loaded.
- **streamed** (`--streamed N`): Parlor with the per-process copy turned off
  (CACHE_MAX_BYTES = 0), as for a team larger than the copy may be: the vectors are read
  from the database in chunks of 20,000 rows every time. A few queries only.

Each query goes through both scans in turn, so a machine busy with something else slows
both alike. Memory: the process's RSS before the first search, after it (the copy of the
vectors), and after all the queries, and tracemalloc's peak of one steady query (NumPy's
allocations included). Nothing is asserted; the table is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PER_CONVERSATION = 100
TOP = 10


@dataclass
class Row:
    name: str
    p50_ms: float
    p99_ms: float
    queries: int


def setup_django(data_dir: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATA_DIR=data_dir,
        GATEWAY_BASE_URL="http://127.0.0.1:9",
        DEBUG="False",
        SECRET_KEY="bench-" + "x" * 50,
        LOG_LEVEL="WARNING",
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def populate(messages: int, dims: int, seed: int):
    """One team, its conversations, messages and vectors; returns (alice, team, vectors)."""
    import numpy as np
    from django.conf import settings
    from django.db import transaction

    from accounts.models import Membership, Team, User
    from chat.models import Conversation, Message, MessageEmbedding

    rng = np.random.default_rng(seed)
    alice = User.objects.create_user("alice", password="x" * 12)
    bob = User.objects.create_user("bob", password="x" * 12)
    team = Team.objects.create(name="Bench")
    Membership.objects.create(team=team, user=alice, role=Membership.Role.OWNER)
    Membership.objects.create(team=team, user=bob, role=Membership.Role.MEMBER)
    count = messages // PER_CONVERSATION
    vectors = rng.standard_normal((messages, dims), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with transaction.atomic():
        conversations = Conversation.objects.bulk_create(
            Conversation(team=team, created_by=bob if i % 5 == 0 else alice, title=f"Chat {i}")
            for i in range(count)
        )
        rows = [
            Message(
                conversation=conversation,
                role=Message.Role.USER if j % 2 == 0 else Message.Role.ASSISTANT,
                content=f"message {i * PER_CONVERSATION + j} of {conversation.title}",
            )
            for i, conversation in enumerate(conversations)
            for j in range(PER_CONVERSATION)
        ]
        Message.objects.bulk_create(rows, batch_size=5000)
    ids = list(Message.objects.order_by("pk").values_list("pk", "conversation_id"))
    with transaction.atomic():
        for start in range(0, len(ids), 5000):
            MessageEmbedding.objects.bulk_create(
                MessageEmbedding(
                    message_id=pk,
                    team=team,
                    conversation_id=conversation_id,
                    model=settings.EMBEDDING_MODEL,
                    dims=dims,
                    vector=vectors[start + k].astype("<f4").tobytes(),
                )
                for k, (pk, conversation_id) in enumerate(ids[start : start + 5000])
            )
    return alice, team, vectors


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(runs: dict, queries) -> list[Row]:
    """Each query through every scan in turn (interleaved: a machine busy with something
    else slows them alike), one row per scan."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for query in queries:
        for name, run in runs.items():
            start = time.perf_counter()
            run(query)
            samples[name].append((time.perf_counter() - start) * 1000)
    return [
        Row(name, statistics.median(times), percentile(times, 99), len(times))
        for name, times in samples.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--streamed", type=int, default=5, help="queries of the streamed scan")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="parlor-bench-search-") as data_dir:
        setup_django(data_dir)
        import numpy as np

        from chat import search

        started = time.perf_counter()
        alice, team, vectors = populate(options.messages, options.dims, options.seed)
        print(
            f"{options.messages:,} messages, {options.dims}-d vectors "
            f"({vectors.nbytes / 2**20:.0f} MB), written in {time.perf_counter() - started:.1f} s"
        )
        rng = np.random.default_rng(options.seed + 1)
        # Near alice's messages (bob's private conversations are every fifth one).
        alices = [m for m in range(len(vectors)) if (m // PER_CONVERSATION) % 5]
        picks = rng.choice(alices, options.queries + 1)
        queries = []
        for i in picks:
            query = vectors[i] + rng.standard_normal(options.dims).astype(np.float32) * 0.02
            queries.append((query / np.linalg.norm(query)).astype(np.float32))

        def parlor(query) -> list:
            return search.meaning_hits(alice, team, query)

        def plain(query) -> list:
            scores = vectors @ query
            best = np.argpartition(-scores, TOP - 1)[:TOP]
            return best[np.argsort(-scores[best])].tolist()

        rss_before = rss_mb()
        start = time.perf_counter()
        first_hits = parlor(queries[0])
        first_ms = (time.perf_counter() - start) * 1000
        rss_loaded = rss_mb()
        assert first_hits, "a query near a stored vector finds it"

        plain_row, parlor_row = timed(
            {"plain NumPy scan": plain, "Parlor meaning_hits": parlor}, queries[1:]
        )
        rss_after = rss_mb()

        tracemalloc.start()
        parlor(queries[1])
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        rows = [plain_row, parlor_row]
        if options.streamed:
            search._cache.clear()
            search.CACHE_MAX_BYTES = 0
            rows += timed({"Parlor, streamed": parlor}, queries[1 : 1 + options.streamed])

    print()
    print("| scan | queries | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row.name} | {row.queries} | {row.p50_ms:.1f} | {row.p99_ms:.1f} |")
    print(f"| Parlor, first search (loads the vectors) | 1 | {first_ms:.0f} | |")
    print()
    vectors_mb = vectors.nbytes / 2**20
    print(f"RSS before the first search: {rss_before:.0f} MB")
    loaded = rss_loaded - rss_before
    print(f"RSS after it: {rss_loaded:.0f} MB (+{loaded:.0f} MB; vectors {vectors_mb:.0f} MB)")
    grown = rss_after - rss_loaded
    print(f"RSS after {parlor_row.queries} more: {rss_after:.0f} MB (+{grown:.1f} MB)")
    print(f"tracemalloc peak of one steady query: {peak / 2**20:.1f} MB")
    ratio = parlor_row.p50_ms / plain_row.p50_ms if plain_row.p50_ms else float("inf")
    print()
    p50 = parlor_row.p50_ms
    print(f"p50 {p50:.1f} ms <= 150 ms: {'met' if p50 <= 150 else 'NOT met'}")
    print(f"p50 {ratio:.2f}x the plain scan <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
