"""One search across a workspace's messages, documents and sources, for one of its members.

Each kind is searched with the database's own full-text search (the FTS5 tables of
``search.fulltext`` and ``knowledge_chunk_fts`` on SQLite; the expression indexes of migration
0001 and knowledge's on PostgreSQL), every word of the query required, best first, with a
highlighted snippet. The query is reduced to its words (``knowledge.search.query_words``):
nothing a person types is ever read as search syntax. Snippets are escaped here, and only the
highlight marks are HTML.

Words match as people type them: "zephy" finds "Zephyr". Both databases index word stems
(FTS5's porter tokenizer, PostgreSQL's english configuration), and a stemmer turns the prefix
"zephy" into "zephi", which begins no indexed word; so each word of three characters or more
matches the indexed stems that begin with its stem *or* with the word as typed. PostgreSQL
does both in one ``to_tsquery`` (``config`` and ``simple``, each with ``:*``); FTS5 stems every
query term, so there the stems that begin with the word as typed are read from the index's
vocabulary (a per-connection ``fts5vocab`` table) and matched too.
"""

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from knowledge.chunking import locator_label
from knowledge.search import fts5_string, query_words, tsquery_string
from workspace.models import Workspace

START, STOP = "\x02", "\x03"  # highlight marks: control characters, escaped text around them
SNIPPET_WORDS = 16
# A word this long or longer also matches the words it begins; at most PREFIX_TERMS of the
# words it begins are looked up in an FTS5 index's vocabulary.
PREFIX_MIN_CHARACTERS = 3
PREFIX_TERMS = 32
# PostgreSQL ranks a message or document by making its tsvector again: only the newest this
# many of those that match are ranked, so a query of common words stays quick at any size.
PG_RANK_WINDOW = 2000
_CONTROL = re.compile(r"[\x00-\x01\x04-\x08\x0b\x0c\x0e-\x1f]")
_CONFIG = re.compile(r"^[a-z_]+$")
PG_HEADLINE = (
    f"StartSel={START}, StopSel={STOP}, MaxWords={SNIPPET_WORDS + 4}, MinWords=6, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class Hit:
    kind: str  # "message", "document" or "passage"
    title: str
    where: str
    snippet: SafeString
    url: str
    at: datetime | None = None


@dataclass
class Results:
    query: str
    words: list[str]
    messages: list[Hit] = field(default_factory=list)
    documents: list[Hit] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.messages) + len(self.documents) + len(self.passages)


def snippet_html(snippet: str) -> SafeString:
    """Escape ``snippet`` and turn only the highlight marks into <mark>."""
    text = escape(_CONTROL.sub("", snippet))
    return mark_safe(text.replace(START, "<mark>").replace(STOP, "</mark>"))  # noqa: S308


def _config() -> str:
    config = settings.KNOWLEDGE_SEARCH_CONFIG
    if not _CONFIG.match(config):
        raise ValueError(f"KNOWLEDGE_SEARCH_CONFIG must be a configuration name, not {config!r}")
    return config


def _is_prefix(word: str) -> bool:
    return len(word) >= PREFIX_MIN_CHARACTERS


def _pg_tsquery(config: str, words: list[str]) -> tuple[str, list[str]]:
    """Every word, each as its stem or as typed, as a prefix where long enough: SQL with a
    parameter per operand (the words never enter the SQL), and its parameters."""
    parts: list[str] = []
    params: list[str] = []
    for word in words:
        operand = tsquery_string(word, prefix=_is_prefix(word))
        parts.append(f"(to_tsquery('{config}', %s) || to_tsquery('simple', %s))")
        params += [operand, operand]
    return " && ".join(parts), params


def _folded(word: str) -> str:
    """The word as FTS5's unicode61 tokenizer (remove_diacritics) stores it, near enough."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fts5_terms_beginning(cursor: CursorWrapper, fts_table: str, word: str) -> list[str]:
    """The index's terms (stems) that begin with ``word`` as typed, at most PREFIX_TERMS."""
    vocabulary = f"{fts_table}_vocab"
    cursor.execute(  # a constant name: no input reaches it
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{vocabulary} "
        f"USING fts5vocab(main, {fts_table}, 'row')"
    )
    start = _folded(word)
    cursor.execute(
        f"SELECT term FROM temp.{vocabulary} "  # noqa: S608 - a constant name
        f"WHERE term >= %s AND term < %s ORDER BY term LIMIT {PREFIX_TERMS}",
        [start, start + "\U0010ffff"],
    )
    return [row[0] for row in cursor.fetchall()]


def _fts5_every_word(cursor: CursorWrapper, fts_table: str, words: list[str]) -> str:
    """An FTS5 MATCH expression: every word, each as its stem's prefix or one of the indexed
    stems that begin with it as typed (all quoted: no syntax gets through)."""
    groups = []
    for word in words:
        if not _is_prefix(word):
            groups.append(fts5_string(word))
            continue
        terms = _fts5_terms_beginning(cursor, fts_table, word)
        alternatives = [fts5_string(word, prefix=True), *(fts5_string(term) for term in terms)]
        groups.append(f"({' OR '.join(alternatives)})")
    return " AND ".join(groups)


def workspace_search(*, workspace: Workspace, query: str, limit: int = 10) -> Results:
    """What in ``workspace`` holds every word of ``query`` (the last one as typed so far, and
    the others, may be the beginning of a word): messages, documents, passages."""
    words = query_words(query)
    results = Results(query=query, words=words)
    if not words or connection.vendor not in ("postgresql", "sqlite"):
        return results
    with connection.cursor() as cursor:
        for kind, (fts_table, sqlite_sql, pg_sql) in _QUERIES.items():
            if connection.vendor == "postgresql":
                config = _config()
                tsquery, tsquery_params = _pg_tsquery(config, words)
                cursor.execute(
                    pg_sql.format(config=config, window=PG_RANK_WINDOW, tsquery=tsquery),
                    [PG_HEADLINE, *tsquery_params, workspace.pk, limit],
                )
            else:
                cursor.execute(
                    sqlite_sql.format(start=START, stop=STOP, words=SNIPPET_WORDS),
                    [_fts5_every_word(cursor, fts_table, words), workspace.pk, limit],
                )
            getattr(results, kind).extend(_HITS[kind](row) for row in cursor.fetchall())
    return results


def _message_hit(row: tuple) -> Hit:
    message_id, _thread_id, thread_title, author, role, snippet, created_at = row
    speaker = author or ("the assistant" if role == "assistant" else "someone")
    return Hit(
        kind="message",
        title=thread_title,
        where=speaker,
        snippet=snippet_html(snippet),
        url=reverse("search-message", args=[message_id]),
        at=created_at if isinstance(created_at, datetime) else parse_datetime(str(created_at)),
    )


def _document_hit(row: tuple) -> Hit:
    document_id, title, snippet = row
    return Hit(
        kind="document",
        title=title,
        where="shared document",
        snippet=snippet_html(snippet),
        url=reverse("document-detail", args=[document_id]),
    )


def _passage_hit(row: tuple) -> Hit:
    chunk_id, source_id, source_title, locator, snippet = row
    where = locator_label(json.loads(locator) if isinstance(locator, str) else locator)
    return Hit(
        kind="passage",
        title=source_title,
        where=where,
        snippet=snippet_html(snippet),
        url=reverse("source-passage", args=[source_id, chunk_id]),
    )


_HITS = {"messages": _message_hit, "documents": _document_hit, "passages": _passage_hit}

# (FTS5 table, SQLite, PostgreSQL) per kind. Constant SQL: the query's words and ids are
# parameters ({tsquery} holds only placeholders); the configuration is checked to be a plain
# name before it is put in.
_QUERIES = {
    "messages": (
        "search_message_fts",
        "SELECT m.id, m.thread_id, t.title, u.username, m.role, "
        "snippet(search_message_fts, -1, '{start}', '{stop}', '…', {words}), m.created_at "
        "FROM search_message_fts f JOIN chat_message m ON m.id = f.rowid "
        "JOIN chat_thread t ON t.id = m.thread_id LEFT JOIN auth_user u ON u.id = m.author_id "
        "WHERE search_message_fts MATCH %s AND t.workspace_id = %s AND m.deleted_at IS NULL "
        "ORDER BY bm25(search_message_fts), m.id DESC LIMIT %s",
        "SELECT s.id, s.thread_id, s.title, s.username, s.role, "
        "ts_headline('{config}', s.body, s.q, %s), s.created_at "
        "FROM (SELECT r.*, ts_rank_cd(to_tsvector('{config}'::regconfig, r.body), r.q) AS rank "
        "FROM (SELECT m.id, m.thread_id, t.title, u.username, m.role, m.body, m.created_at, k.q "
        "FROM chat_message m JOIN chat_thread t ON t.id = m.thread_id "
        "LEFT JOIN auth_user u ON u.id = m.author_id, (SELECT {tsquery} AS q) k "
        "WHERE t.workspace_id = %s AND m.deleted_at IS NULL "
        "AND to_tsvector('{config}'::regconfig, m.body) @@ k.q "
        "ORDER BY m.id DESC LIMIT {window}) r "
        "ORDER BY rank DESC, r.id DESC LIMIT %s) s ORDER BY s.rank DESC, s.id DESC",
    ),
    "documents": (
        "search_document_fts",
        "SELECT d.id, d.title, "
        "snippet(search_document_fts, -1, '{start}', '{stop}', '…', {words}) "
        "FROM search_document_fts f JOIN documents_document d ON d.id = f.rowid "
        "WHERE search_document_fts MATCH %s AND d.workspace_id = %s AND d.deleted_at IS NULL "
        "ORDER BY bm25(search_document_fts), d.id DESC LIMIT %s",
        "SELECT s.id, s.title, ts_headline('{config}', s.title || ' ' || s.text, s.q, %s) "
        "FROM (SELECT r.*, "
        "ts_rank_cd(to_tsvector('{config}'::regconfig, r.title || ' ' || r.text), r.q) AS rank "
        "FROM (SELECT d.id, d.title, d.text, k.q "
        "FROM documents_document d, (SELECT {tsquery} AS q) k "
        "WHERE d.workspace_id = %s AND d.deleted_at IS NULL "
        "AND to_tsvector('{config}'::regconfig, d.title || ' ' || d.text) @@ k.q "
        "ORDER BY d.id DESC LIMIT {window}) r "
        "ORDER BY rank DESC, r.id DESC LIMIT %s) s ORDER BY s.rank DESC, s.id DESC",
    ),
    "passages": (
        "knowledge_chunk_fts",
        "SELECT c.id, c.source_id, s.title, c.locator, "
        "snippet(knowledge_chunk_fts, 0, '{start}', '{stop}', '…', {words}) "
        "FROM knowledge_chunk_fts f JOIN knowledge_chunk c ON c.id = f.rowid "
        "JOIN knowledge_source s ON s.id = c.source_id "
        "WHERE knowledge_chunk_fts MATCH %s AND c.workspace_id = %s "
        "ORDER BY bm25(knowledge_chunk_fts), c.id LIMIT %s",
        "SELECT x.id, x.source_id, x.title, x.locator, ts_headline('{config}', x.text, x.q, %s) "
        "FROM (SELECT c.id, c.source_id, s.title, c.locator, c.text, k.q, "
        "ts_rank_cd(c.search_vector, k.q) AS rank "
        "FROM knowledge_chunk c JOIN knowledge_source s ON s.id = c.source_id, "
        "(SELECT {tsquery} AS q) k "
        "WHERE c.workspace_id = %s AND c.search_vector @@ k.q "
        "ORDER BY rank DESC, c.id LIMIT %s) x ORDER BY x.rank DESC, x.id",
    ),
}
