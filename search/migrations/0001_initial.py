"""Full-text indexes of messages and documents, native to the database.

SQLite: external-content FTS5 tables kept in step by triggers (search/fulltext.py, which also
repairs them after migrations that rebuild the tables). PostgreSQL: GIN indexes on
to_tsvector with an explicit configuration, the expressions search/selectors.py queries.
"""

from django.conf import settings
from django.db import migrations

from search.fulltext import DOCUMENTS, MESSAGES

INDEXES = (MESSAGES, DOCUMENTS)  # this migration's; passages' is knowledge's 0002


def _config() -> str:
    config = settings.KNOWLEDGE_SEARCH_CONFIG
    if not config.replace("_", "").isalpha():
        raise ValueError(f"KNOWLEDGE_SEARCH_CONFIG must be a configuration name, not {config!r}")
    return config


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for index in INDEXES:
            for statement in index.statements():
                schema_editor.execute(statement)
            schema_editor.execute(index.rebuild_statement())
    elif vendor == "postgresql":
        config = _config()
        schema_editor.execute(
            "CREATE INDEX search_message_body ON chat_message USING GIN "
            f"(to_tsvector('{config}'::regconfig, body))"
        )
        schema_editor.execute(
            "CREATE INDEX search_document_text ON documents_document USING GIN "
            f"(to_tsvector('{config}'::regconfig, title || ' ' || text))"
        )


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for index in INDEXES:
            for statement in index.drop_statements():
                schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS search_message_body")
        schema_editor.execute("DROP INDEX IF EXISTS search_document_text")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0009_thread_sources_answer_sources"),
        ("documents", "0003_document_snapshot_size"),
    ]

    operations = [migrations.RunPython(forward, backward)]
