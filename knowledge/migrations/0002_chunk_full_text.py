"""Full-text search over passages, native to each database.

SQLite: an FTS5 table with external content (the text lives once, in knowledge_chunk) kept in
step by triggers. PostgreSQL: a GIN index on to_tsvector with an explicit configuration (an
index on to_tsvector without one is refused, as it depends on a setting). Other databases get
neither and full-text search finds nothing there; vector search still works.
"""

from django.conf import settings
from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5(text, content='knowledge_chunk', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_chunk_fts_insert AFTER INSERT ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER knowledge_chunk_fts_delete AFTER DELETE ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER knowledge_chunk_fts_update AFTER UPDATE OF text ON knowledge_chunk BEGIN "
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO knowledge_chunk_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_update",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS knowledge_chunk_fts_insert",
    "DROP TABLE IF EXISTS knowledge_chunk_fts",
]


def _postgresql_config() -> str:
    config = settings.KNOWLEDGE_SEARCH_CONFIG
    if not config.replace("_", "").isalpha():
        raise ValueError(f"KNOWLEDGE_SEARCH_CONFIG must be a configuration name, not {config!r}")
    return config


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX knowledge_chunk_text_search ON knowledge_chunk USING GIN "
            f"(to_tsvector('{_postgresql_config()}'::regconfig, text))"
        )


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS knowledge_chunk_text_search")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
