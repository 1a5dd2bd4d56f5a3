"""On PostgreSQL with the `vector` extension available (pgvector), give message embeddings
a `pgvector` column and an HNSW index for cosine distance, so chat.search orders by `<=>` in
SQL. Anywhere else (SQLite, PostgreSQL without the extension) nothing changes and
chat.search scans the float32 bytes with NumPy. What happened here is what chat.search
finds: the column exists or it does not."""

from __future__ import annotations

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

# The vector width the index is built for (settings.EMBEDDING_DIMENSIONS's default); other
# widths are still ordered in SQL, without the index.
INDEXED_DIMS = 512


def enable_pgvector(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
            cursor.execute("ALTER TABLE chat_messageembedding ADD COLUMN pgvector vector")
            cursor.execute(
                "CREATE INDEX chat_embedding_hnsw ON chat_messageembedding USING hnsw "
                f"((pgvector::vector({INDEXED_DIMS})) vector_cosine_ops) "
                f"WHERE dims = {INDEXED_DIMS}"
            )
    except DatabaseError as exc:
        logger.info("pgvector is not available (%s): search by meaning scans with NumPy", exc)


def disable_pgvector(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS chat_embedding_hnsw")
        cursor.execute("ALTER TABLE chat_messageembedding DROP COLUMN IF EXISTS pgvector")


class Migration(migrations.Migration):
    dependencies = [("chat", "0010_message_embedding")]

    operations = [migrations.RunPython(enable_pgvector, disable_pgvector, elidable=False)]
