"""SQLite FTS5 indexes over other apps' tables, kept whole across migrations: messages,
documents, and knowledge's passages (which retrieval queries too).

Each index is an external-content FTS5 table (the text lives once, in the app's table) that
triggers keep in step. Django alters a table on SQLite by rebuilding it, which drops its
triggers; after every ``migrate`` (``SearchConfig.ready``) ``FtsIndex.ensure`` puts back what is
missing and rebuilds the index from the table if anything was. PostgreSQL uses expression GIN
indexes instead (migration 0001), which survive such changes.
"""

from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass(frozen=True)
class FtsIndex:
    name: str  # the FTS5 table
    table: str  # the content table
    columns: tuple[str, ...]

    def _values(self, row: str) -> str:
        return ", ".join(f"{row}.{column}" for column in self.columns)

    def statements(self) -> list[str]:
        """Everything that makes the index, each statement idempotent. Constant SQL: no input
        reaches it."""
        columns = ", ".join(self.columns)
        remove = (
            f"INSERT INTO {self.name}({self.name}, rowid, {columns}) "  # noqa: S608
            f"VALUES ('delete', old.id, {self._values('old')});"
        )
        add = (
            f"INSERT INTO {self.name}(rowid, {columns}) "  # noqa: S608
            f"VALUES (new.id, {self._values('new')});"
        )
        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.name} USING fts5({columns}, "
            f"content='{self.table}', content_rowid='id', "
            "tokenize='porter unicode61 remove_diacritics 2')",
            f"CREATE TRIGGER IF NOT EXISTS {self.name}_insert AFTER INSERT ON {self.table} "
            f"BEGIN {add} END",
            f"CREATE TRIGGER IF NOT EXISTS {self.name}_delete AFTER DELETE ON {self.table} "
            f"BEGIN {remove} END",
            f"CREATE TRIGGER IF NOT EXISTS {self.name}_update AFTER UPDATE OF {columns} "
            f"ON {self.table} BEGIN {remove} {add} END",
        ]

    def rebuild_statement(self) -> str:
        return f"INSERT INTO {self.name}({self.name}) VALUES ('rebuild')"  # noqa: S608

    def drop_statements(self) -> list[str]:
        return [
            *(
                f"DROP TRIGGER IF EXISTS {self.name}_{event}"
                for event in ("insert", "delete", "update")
            ),
            f"DROP TABLE IF EXISTS {self.name}",
        ]

    def ensure(self, connection: BaseDatabaseWrapper) -> bool:
        """Create what is missing and rebuild if anything was; whether anything was repaired.
        Does nothing but on SQLite, or before the content table exists."""
        if connection.vendor != "sqlite":
            return False
        wanted = {self.name, *(f"{self.name}_{e}" for e in ("insert", "delete", "update"))}
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
            present = {row[0] for row in cursor.fetchall()}
            if self.table not in present or wanted <= present:
                return False
            for statement in self.statements():
                cursor.execute(statement)
            cursor.execute(self.rebuild_statement())
        return True


MESSAGES = FtsIndex(name="search_message_fts", table="chat_message", columns=("body",))
DOCUMENTS = FtsIndex(
    name="search_document_fts", table="documents_document", columns=("title", "text")
)
# Made by knowledge's migration 0002 with the same names and statements.
PASSAGES = FtsIndex(name="knowledge_chunk_fts", table="knowledge_chunk", columns=("text",))
INDEXES = (MESSAGES, DOCUMENTS, PASSAGES)
