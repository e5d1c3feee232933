"""Keeping SQLite's full-text index of passages whole, whatever migrations do to its table.

The FTS5 index (``knowledge_chunk_fts``) follows ``knowledge_chunk`` through triggers. When a
migration alters that table on SQLite, Django rebuilds it (new table, copy, drop, rename), and
SQLite drops the old table's triggers with it: from then on, new passages would silently be
missing from full-text search. After every ``migrate`` this module puts back whatever is
missing and, if a trigger was, rebuilds the index from the table. PostgreSQL's index is an
ordinary expression index and needs none of this.
"""

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

FTS_TABLE = "knowledge_chunk_fts"
CREATE_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_chunk_fts USING fts5(text, "
    "content='knowledge_chunk', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')"
)
REBUILD = "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts) VALUES ('rebuild')"
# Constant SQL (no input reaches it), the same as migration 0002's.
TRIGGERS = {
    "knowledge_chunk_fts_insert": (
        "AFTER INSERT ON knowledge_chunk BEGIN "
        "INSERT INTO knowledge_chunk_fts(rowid, text) VALUES (new.id, new.text); END"
    ),
    "knowledge_chunk_fts_delete": (
        "AFTER DELETE ON knowledge_chunk BEGIN "
        "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); END"
    ),
    "knowledge_chunk_fts_update": (
        "AFTER UPDATE OF text ON knowledge_chunk BEGIN "
        "INSERT INTO knowledge_chunk_fts(knowledge_chunk_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); "
        "INSERT INTO knowledge_chunk_fts(rowid, text) VALUES (new.id, new.text); END"
    ),
}


def fulltext_ensure(connection: BaseDatabaseWrapper) -> bool:
    """Create the FTS5 table and triggers where missing; rebuild the index if anything was.
    Returns whether anything was repaired (always False but on SQLite)."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {name for name, _ in cursor.fetchall()}
        if "knowledge_chunk" not in present:  # migrated backwards, or not yet
            return False
        missing = [name for name in (FTS_TABLE, *TRIGGERS) if name not in present]
        if not missing:
            return False
        cursor.execute(CREATE_TABLE)
        for name, body in TRIGGERS.items():
            cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
        cursor.execute(REBUILD)
    return True


def fulltext_ensure_after_migrate(using: str, **kwargs: Any) -> None:
    from django.db import connections

    fulltext_ensure(connections[using])
