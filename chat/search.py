"""The sidebar's search over messages: by words and by meaning, merged, each hit labelled.

`search(user, team, q, role=...)` returns Hits, words first (the messages that contain the
text), then meaning (the messages whose vectors are nearest the query's, that the words did
not find). Every hit comes from a conversation `user` may read in `team` (their own and
shared ones: TeamOwnedQuerySet.visible_to), and the messages are loaded through that filter
at the end whatever the scan returned, so no hit, snippet or vector of another conversation
ever reaches a member.

By meaning: the query is embedded through the gateway with settings.EMBEDDING_MODEL,
charged to the member (reserved before the call, refused by a budget before anything goes
upstream; the same query again within QUERY_CACHE_SECONDS is not sent or charged again).
The messages' vectors (chat.MessageEmbedding, written by chat.embedding_worker) are scanned
with NumPy: each process keeps one team's vectors as one normalised float32 matrix
(`_TeamVectors`), refreshed when the team's rows change (the embedder moves a generation in
the cache; when it has moved, one COUNT/MAX query tells what changed), and scores the whole
matrix with one product, masking the conversations the member may not see. A team whose
vectors are larger than CACHE_MAX_BYTES is streamed from the database in chunks of
CHUNK_ROWS instead, so memory stays bounded. On PostgreSQL with pgvector
(chat/migrations/0008: the `pgvector` column exists), the database orders by `<=>` with the
visibility filter in SQL.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connections, router, transaction
from django.db.models import Count, Max
from django.db.models.expressions import RawSQL
from django.urls import reverse

from accounts.models import Team, User
from chat.models import Conversation, Message, MessageEmbedding
from config.gateway_check import serves
from gateway import embeddings as gateway_embeddings
from gateway.errors import GatewayError
from usage import services as usage
from usage.models import UsageRecord

logger = logging.getLogger(__name__)

WORDS, MEANING = "words", "meaning"
WORDS_LIMIT = 10
MEANING_LIMIT = 10
# Cosine similarity below which a message is not "about" the query.
MIN_SCORE = 0.3
# Shorter queries are searched by words only (a letter or two means nothing yet).
MIN_MEANING_CHARS = 3
MAX_QUERY_CHARS = 2000
SNIPPET_CHARS = 160
QUERY_CACHE_SECONDS = 600
CHUNK_ROWS = 20_000
# The most vector bytes one process keeps in memory, over all teams (least recently used
# teams are dropped first); a team larger than this is streamed from the database.
CACHE_MAX_BYTES = 1 << 30


@dataclass(frozen=True)
class Hit:
    kind: str  # WORDS or MEANING
    message_id: int
    conversation_id: uuid.UUID
    conversation_title: str
    role: str
    snippet: str
    score: float | None = None

    @property
    def url(self) -> str:
        """The conversation, opened at the message."""
        path = reverse("chat:conversation", args=[self.conversation_id])
        return f"{path}#message-{self.message_id}"


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    # Why there are no meaning hits although the query was long enough ("" if none):
    # "budget" (refused), "gateway" (it failed).
    meaning_off: str = ""


def search(user: User, team: Team | None, q: str, *, role: str) -> Results:
    """Messages of `team` that `user` may read matching `q` by words, then by meaning."""
    q = q.strip()[:MAX_QUERY_CHARS]
    if team is None or not q or not user.is_authenticated:
        return Results([])
    words = words_hits(user, team, q)
    if len(q) < MIN_MEANING_CHARS or not serves().get("embeddings", False):
        return Results(words)  # too short to mean much, or the gateway embeds nothing
    if not _has_vectors(team):
        return Results(words)
    try:
        query = embed_query(q, user=user, team=team, role=role)
    except usage.BudgetRefused:
        return Results(words, meaning_off="budget")
    except GatewayError as exc:
        logger.warning("Search by meaning: the query could not be embedded: %s", exc)
        return Results(words, meaning_off="gateway")
    seen = {hit.message_id for hit in words}
    return Results(words + meaning_hits(user, team, query, exclude=seen))


def searchable_messages():
    """The messages search looks at: what members wrote and the replies that completed."""
    return Message.objects.filter(
        role__in=[Message.Role.USER, Message.Role.ASSISTANT], status=Message.Status.COMPLETE
    ).exclude(content="")


def words_hits(user: User, team: Team, q: str, *, limit: int = WORDS_LIMIT) -> list[Hit]:
    visible = Conversation.objects.visible_to(user, team).values("pk")
    rows = (
        searchable_messages()
        .filter(conversation__in=visible, content__icontains=q)
        .select_related("conversation")
        .order_by("-created_at", "-pk")[:limit]
    )
    return [_hit(WORDS, message, snippet(message.content, q)) for message in rows]


def meaning_hits(
    user: User,
    team: Team,
    query: np.ndarray,
    *,
    exclude: set[int] = frozenset(),  # type: ignore[assignment]
    limit: int = MEANING_LIMIT,
) -> list[Hit]:
    """The messages nearest `query` (a vector from embed_query) that `user` may read."""
    found = [(pk, score) for pk, score in nearest(user, team, query, k=limit + len(exclude))]
    found = [(pk, score) for pk, score in found if pk not in exclude][:limit]
    if not found:
        return []
    visible = Conversation.objects.visible_to(user, team).values("pk")
    messages = (
        searchable_messages()
        .filter(pk__in=[pk for pk, _ in found], conversation__in=visible)
        .select_related("conversation")
    )
    by_pk = {message.pk: message for message in messages}
    return [
        _hit(MEANING, by_pk[pk], snippet(by_pk[pk].content, ""), score)
        for pk, score in found
        if pk in by_pk
    ]


def _hit(kind: str, message: Message, text: str, score: float | None = None) -> Hit:
    return Hit(
        kind=kind,
        message_id=message.pk,
        conversation_id=message.conversation_id,
        conversation_title=str(message.conversation),
        role=message.role,
        snippet=text,
        score=score,
    )


def snippet(content: str, q: str, *, size: int = SNIPPET_CHARS) -> str:
    """About `size` characters of `content` on one line, around the first `q` if given."""
    text = " ".join(content.split())
    start = max(0, text.lower().find(q.lower()) - size // 3) if q else 0
    if start and q and text.lower().find(q.lower()) < 0:
        start = 0
    piece = text[start : start + size]
    return ("…" if start else "") + piece + ("…" if start + size < len(text) else "")


# The query's vector


def wanted_dimensions(model: str) -> int:
    dims = settings.EMBEDDING_DIMENSIONS
    return dims if dims > 0 and gateway_embeddings.takes_dimensions(model) else 0


def embed_query(q: str, *, user: User, team: Team, role: str) -> np.ndarray:
    """`q`'s unit vector with settings.EMBEDDING_MODEL, charged to `user` in `team`.
    BudgetRefused before anything goes upstream; GatewayError (refunded) if the call fails."""
    model = settings.EMBEDDING_MODEL
    dims = wanted_dimensions(model)
    key = "search:q:" + hashlib.sha256(f"{model}\0{dims}\0{q}".encode()).hexdigest()
    cached = cache.get(key)
    if isinstance(cached, bytes) and cached:
        return _unit(np.frombuffer(cached, dtype="<f4"))
    estimate = usage.estimate_tokens(q)
    price = usage.quote(model, prompt_tokens=estimate)
    with transaction.atomic():
        record = usage.reserve(
            team=team,
            user=user,
            role=role,
            kind=UsageRecord.Kind.EMBEDDING,
            model=model,
            amount=price.amount,
            default_price=price.default_price,
            prompt_tokens=estimate,
        )
    try:
        result = gateway_embeddings.embed_sync([q], model=model, dimensions=dims)
    except GatewayError:
        usage.refund(record)
        raise
    charge(record, model=model, reported=result.prompt_tokens, estimate=estimate)
    cache.set(key, result.vectors[0], QUERY_CACHE_SECONDS)
    return _unit(np.frombuffer(result.vectors[0], dtype="<f4"))


def charge(record: UsageRecord, *, model: str, reported: int | None, estimate: int) -> bool:
    """Settle an embedding call for the tokens the gateway counted (else the estimate)."""
    tokens = estimate if reported is None else reported
    return usage.settle(
        record,
        cost=usage.quote(model, prompt_tokens=tokens).amount,
        prompt_tokens=tokens,
        estimated=reported is None,
    )


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = vector.astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _has_vectors(team: Team) -> bool:
    return MessageEmbedding.objects.filter(team=team, model=settings.EMBEDDING_MODEL).exists()


# The scan


def nearest(user: User, team: Team, query: np.ndarray, *, k: int) -> list[tuple[int, float]]:
    """(message id, cosine similarity) of the `k` messages nearest `query` (a unit vector)
    among the conversations `user` may read in `team`, best first, at least MIN_SCORE."""
    model, dims = settings.EMBEDDING_MODEL, int(query.shape[0])
    visible = Conversation.objects.visible_to(user, team)
    if uses_pgvector(router.db_for_read(MessageEmbedding)):
        return _nearest_in_sql(team, visible, query, model=model, k=k)
    vectors = _team_vectors(team.pk, model, dims)
    if vectors is None:
        return _nearest_streamed(team, visible, query, model=model, k=k)
    allowed = np.zeros(len(vectors.conversations) + 1, dtype=bool)
    codes = [vectors.codes.get(pk) for pk in visible.values_list("pk", flat=True)]
    allowed[[c for c in codes if c is not None]] = True
    scores = vectors.matrix @ query
    scores[~allowed[vectors.conversation_codes]] = -np.inf
    return _top(scores, vectors.message_ids, k)


def _top(scores: np.ndarray, message_ids: np.ndarray, k: int) -> list[tuple[int, float]]:
    if not len(scores) or k <= 0:
        return []
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(message_ids[i]), float(scores[i])) for i in best if scores[i] >= MIN_SCORE]


@dataclass(frozen=True)
class _TeamVectors:
    """One team's vectors of one model and width, normalised, as loaded by one process."""

    count: int
    max_id: int
    matrix: np.ndarray  # (count, dims) float32
    message_ids: np.ndarray  # (count,) int64
    conversation_codes: np.ndarray  # (count,) int32, indexes into `conversations`
    conversations: tuple[uuid.UUID, ...]
    codes: dict[uuid.UUID, int]
    generation: str | None = None  # the team's generation it was checked against
    # conversation_id as the database returns it -> code (a string on SQLite, a UUID on
    # PostgreSQL), for appending rows read later
    raw_codes: dict[Any, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes + self.message_ids.nbytes + self.conversation_codes.nbytes


_cache: OrderedDict[tuple[int, str, int], _TeamVectors] = OrderedDict()
_lock = threading.Lock()


def _rows(team_id: int, model: str, dims: int):
    return MessageEmbedding.objects.filter(team_id=team_id, model=model, dims=dims)


def generation_key(team_id: int, model: str) -> str:
    return f"search:vectors:{team_id}:{model}"


def vectors_changed(team_id: int, model: str) -> None:
    """Tell every process's copy of the team's vectors that rows were written (the embedder
    calls it after each commit; the cache is shared in scale mode)."""
    cache.set(generation_key(team_id, model), uuid.uuid4().hex, None)


def _team_vectors(team_id: int, model: str, dims: int) -> _TeamVectors | None:
    """The team's vectors from this process's cache, brought up to date: unchanged while the
    team's generation (vectors_changed) is; else rows added since are appended, and any other
    change (rows deleted, replaced, or committed out of order) loads them again. None when
    they do not fit in CACHE_MAX_BYTES. Rows deleted with their conversation stay in the
    copy until the next change: harmless, as hits are loaded through the visibility filter."""
    key = (team_id, model, dims)
    generation = cache.get(generation_key(team_id, model))
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
    if cached is not None and generation is not None and cached.generation == generation:
        return cached
    if generation is None:  # never set, or evicted: from now on, changes move it
        generation = uuid.uuid4().hex
        if not cache.add(generation_key(team_id, model), generation, None):
            generation = cache.get(generation_key(team_id, model))
    state = _rows(team_id, model, dims).aggregate(count=Count("pk"), max_id=Max("pk"))
    count, max_id = state["count"], state["max_id"] or 0
    if count * dims * 4 > CACHE_MAX_BYTES:
        return None
    if cached is not None and (cached.count, cached.max_id) == (count, max_id):
        fresh = replace(cached, generation=generation)
    elif cached is not None and max_id > cached.max_id:
        new_rows = _rows(team_id, model, dims).filter(pk__gt=cached.max_id)
        added = _load(new_rows, dims, cached, expected=max(0, count - cached.count))
        fresh = added if added.count == count else _load(_rows(team_id, model, dims), dims)
    else:
        fresh = _load(_rows(team_id, model, dims), dims, expected=count)
    fresh = replace(fresh, generation=generation)
    with _lock:
        _cache[key] = fresh
        _cache.move_to_end(key)
        while sum(v.nbytes for v in _cache.values()) > CACHE_MAX_BYTES and len(_cache) > 1:
            _cache.popitem(last=False)
    return fresh


def _load(rows, dims: int, base: _TeamVectors | None = None, *, expected: int = 0) -> _TeamVectors:
    """`rows` read in chunks straight into one normalised matrix (sized for `expected` rows,
    grown if more come), appended to `base` if given. Raw cursor rows: no model instances,
    no UUID made per row, at most one chunk of bytes alive besides the matrix."""
    conversations = list(base.conversations) if base else []
    codes: dict[Any, int] = dict(base.raw_codes) if base else {}
    matrix = np.empty((expected, dims), dtype=np.float32)
    message_ids = np.empty(expected, dtype=np.int64)
    conv_codes = np.empty(expected, dtype=np.int32)
    filled, max_id = 0, base.max_id if base else 0
    to_uuid = MessageEmbedding._meta.get_field("conversation_id").to_python
    query = rows.order_by("pk").values_list("pk", "message_id", "conversation_id", "vector")
    sql, params = query.query.sql_with_params()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK_ROWS):
            n = len(chunk)
            if filled + n > len(matrix):  # rows committed since the count: grow
                size = max(2 * len(matrix), filled + n)
                matrix = _grown(matrix, size)
                message_ids, conv_codes = _grown(message_ids, size), _grown(conv_codes, size)
            target = matrix[filled : filled + n]
            target[:] = np.frombuffer(b"".join(row[3] for row in chunk), dtype="<f4").reshape(
                n, dims
            )
            norms = np.linalg.norm(target, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            target /= norms
            message_ids[filled : filled + n] = [row[1] for row in chunk]
            for i, row in enumerate(chunk):
                code = codes.get(row[2])
                if code is None:
                    code = codes[row[2]] = len(conversations)
                    conversations.append(to_uuid(row[2]))
                conv_codes[filled + i] = code
            filled, max_id = filled + n, chunk[-1][0]
    matrix, message_ids, conv_codes = matrix[:filled], message_ids[:filled], conv_codes[:filled]
    if base is not None:
        matrix = np.concatenate([base.matrix, matrix])
        message_ids = np.concatenate([base.message_ids, message_ids])
        conv_codes = np.concatenate([base.conversation_codes, conv_codes])
    return _TeamVectors(
        count=len(message_ids),
        max_id=max_id,
        matrix=matrix,
        message_ids=message_ids,
        conversation_codes=conv_codes,
        conversations=tuple(conversations),
        codes={pk: code for code, pk in enumerate(conversations)},
        raw_codes=codes,
    )


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    bigger = np.empty((size, *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


def _normalised(raw: bytes, dims: int) -> np.ndarray:
    matrix = np.frombuffer(raw, dtype="<f4").reshape(-1, dims).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    matrix /= norms
    return matrix


def _nearest_streamed(
    team: Team, visible, query: np.ndarray, *, model: str, k: int
) -> list[tuple[int, float]]:
    """The scan for a team too large to keep: the visible rows in chunks, a running top k."""
    dims = int(query.shape[0])
    rows = _rows(team.pk, model, dims).filter(conversation__in=visible.values("pk"))
    best_scores, best_ids = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    chunk: list[tuple[int, Any]] = []

    def fold() -> None:
        nonlocal best_scores, best_ids
        matrix = _normalised(b"".join(bytes(v) for _, v in chunk), dims)
        ids = np.fromiter((pk for pk, _ in chunk), dtype=np.int64, count=len(chunk))
        scores = np.concatenate([best_scores, matrix @ query])
        ids = np.concatenate([best_ids, ids])
        keep = np.argsort(-scores, kind="stable")[:k]
        best_scores, best_ids = scores[keep], ids[keep]

    for row in rows.values_list("message_id", "vector").iterator(chunk_size=CHUNK_ROWS):
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            fold()
            chunk = []
    if chunk:
        fold()
    return _top(best_scores, best_ids, k)


# pgvector (PostgreSQL with the `vector` extension; chat/migrations/0008)


@lru_cache(maxsize=4)
def uses_pgvector(alias: str) -> bool:
    """Whether the migration gave the embeddings table its `pgvector` column."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(
            cursor, MessageEmbedding._meta.db_table
        )
    return any(column.name == "pgvector" for column in columns)


def vector_literal(vector: np.ndarray | bytes) -> str:
    """pgvector's text form of a vector: "[0.1,0.2,...]"."""
    values = np.frombuffer(vector, dtype="<f4") if isinstance(vector, bytes) else vector
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def _nearest_in_sql(
    team: Team, visible, query: np.ndarray, *, model: str, k: int
) -> list[tuple[int, float]]:
    dims = int(query.shape[0])
    # `dims` is an int; the vector goes as a parameter.
    expression = f"(pgvector::vector({dims})) <=> %s::vector({dims})"
    distance = RawSQL(expression, [vector_literal(query)])  # noqa: S611
    rows = (
        _rows(team.pk, model, dims)
        .filter(conversation__in=visible.values("pk"))
        .extra(where=["pgvector IS NOT NULL"])
        .annotate(distance=distance)
        .order_by("distance")
        .values_list("message_id", "distance")[:k]
    )
    return [(pk, 1.0 - float(d)) for pk, d in rows if 1.0 - float(d) >= MIN_SCORE]


def store_pgvector(rows: list[MessageEmbedding]) -> None:
    """Fill the `pgvector` column of rows just written (when it exists)."""
    alias = router.db_for_write(MessageEmbedding)
    if not rows or not uses_pgvector(alias):
        return
    table = MessageEmbedding._meta.db_table
    with connections[alias].cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET pgvector = %s::vector WHERE message_id = %s",  # noqa: S608
            [(vector_literal(bytes(row.vector)), row.message_id) for row in rows],
        )
