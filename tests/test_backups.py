"""Backups: `manage.py backup` of a live installation, `manage.py restore` into a fresh one.

Every test runs on the suite's database vendor: SQLite by default, PostgreSQL when
DATABASE_URL names one (CI's second tier), where the restore target is a database of its own.
The restore runs in a child process pointed at the fresh database, as a person would run it.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pycrdt
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from chat.services import message_create
from documents.crdt import TEXT_NAME
from documents.selectors import document_state_get
from documents.services import (
    document_compact,
    document_create,
    document_delete,
    document_update_append,
    version_create,
)
from knowledge.models import Chunk, Source

from .backup_contents import installation_contents
from .conftest import Team
from .factories import MessageFactory, ThreadFactory, WorkspaceFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


# --- The installation ---------------------------------------------------------------------


def _doc_append(doc: pycrdt.Doc, text: str) -> bytes:
    """Append ``text`` to the document's text, returning the Yjs update an editor would send."""
    before = doc.get_state()
    content = doc.get(TEXT_NAME, type=pycrdt.Text)
    content.insert(len(content), text)
    return doc.get_update(before)


def _doc_of(document_id: int) -> pycrdt.Doc:
    doc: pycrdt.Doc = pycrdt.Doc()
    doc.get(TEXT_NAME, type=pycrdt.Text)
    doc.apply_update(document_state_get(document_id=document_id))
    return doc


@pytest.fixture
def installation(team: Team, settings: Any, tmp_path: Path) -> Team:
    """Two workspaces with threads and messages, documents (merged into their snapshot, still
    in the log, deleted, versioned) and sources with uploaded files and passages."""
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MESSAGE_RATE_LIMIT = 100_000
    other = WorkspaceFactory.create(name="Ops")
    ThreadFactory.create(workspace=other, title="Incidents")
    for index in range(5):
        MessageFactory.create(thread=team.thread, author=team.owner, body=f"Decision {index} ✓")
    notes = document_create(workspace=team.workspace, title="Notes", created_by=team.owner)
    doc: pycrdt.Doc = pycrdt.Doc()
    for line in ("# Notes\n", "Ship on Friday. ", "Ünïcode and emoji 🎉\n"):
        document_update_append(
            document_id=notes.pk, update=_doc_append(doc, line), author=team.owner, sender="t"
        )
    document_compact(document_id=notes.pk)  # the snapshot holds these
    document_update_append(
        document_id=notes.pk, update=_doc_append(doc, "In the log.\n"), author=team.member, sender="t"
    )  # fmt: skip
    version_create(document=notes, name="First draft", created_by=team.owner)
    gone = document_create(workspace=other, title="Old plan", created_by=team.owner)
    document_update_append(
        document_id=gone.pk, update=_doc_append(pycrdt.Doc(), "Deleted, restorable.\n"),
        author=team.owner, sender="t",
    )  # fmt: skip
    document_delete(document=gone, deleted_by=team.owner)
    upload = os.urandom(256 * 1024)  # an uploaded file is kept byte for byte
    source = Source.objects.create(
        workspace=team.workspace, kind=Source.Kind.FILE, title="handbook.pdf",
        file_name="handbook.pdf", content_type="application/pdf", data=upload,
        size=len(upload), status=Source.Status.READY, chunk_count=2,
    )  # fmt: skip
    for ordinal in range(2):
        Chunk.objects.create(
            source=source, workspace=team.workspace, ordinal=ordinal,
            text=f"Passage {ordinal} of the handbook", locator={"page": [ordinal + 1]},
            embedding=bytes(range(16)), embedding_model="test", dimension=4,
        )  # fmt: skip
    Source.objects.create(
        workspace=other, kind=Source.Kind.URL, title="Runbook", url="https://example.com/run"
    )
    return team


class Writer(threading.Thread):
    """Repeats ``step`` (given its count) on a thread and connection of its own until stopped."""

    def __init__(self, step: Callable[[int], object]) -> None:
        super().__init__(daemon=True)
        self.step, self.done = step, 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                self.step(self.done)
                self.done += 1  # after the commit: `done` writes are in the database
                time.sleep(0.01)
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()

    def reach(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.done < count and self.error is None:
            assert time.monotonic() < deadline, f"only {self.done} writes of {count}"
            time.sleep(0.01)

    def finish(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        assert self.error is None, self.error


# --- Fresh installations and child processes ----------------------------------------------


def _database_url(name: str) -> str:
    config = connection.settings_dict
    password = f":{quote(config['PASSWORD'], safe='')}" if config.get("PASSWORD") else ""
    host = f"{config.get('HOST') or '127.0.0.1'}:{config.get('PORT') or 5432}"
    return f"postgres://{quote(config['USER'], safe='')}{password}@{host}/{name}"


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Makes empty databases of the suite's vendor, returning each one's DATABASE_URL."""
    made: list[str] = []

    def make(label: str) -> str:
        if not ON_POSTGRES:
            return f"sqlite:///{tmp_path / f'{label}.sqlite3'}"
        name = f"{connection.settings_dict['NAME']}_{label}"[:63]
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")
            cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        made.append(name)
        return _database_url(name)

    yield make
    with connection.cursor() as cursor:
        for name in made:
            cursor.execute(
                f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)"
            )


def manage(*args: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python manage.py ...` as a person runs it, on the installation at ``database_url``."""
    environment = dict(
        os.environ, DATABASE_URL=database_url, BACKUP_DIR=str(tmp_path / "child-backups")
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def contents_at(database_url: str, tmp_path: Path) -> dict[str, Any]:
    environment = dict(os.environ, DATABASE_URL=database_url)
    run = subprocess.run(
        [sys.executable, "-m", "tests.backup_contents"],
        cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    return json.loads(run.stdout)


def manifest_of(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return json.load(member)


def archive_rewrite(
    archive: Path,
    into: Path,
    *,
    manifest: Callable[[dict[str, Any]], None] = lambda _: None,
    database: Callable[[bytes], bytes] = lambda data: data,
) -> Path:
    """A copy of ``archive`` with its manifest and database bytes changed (checksum kept)."""
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    described = json.loads(files.pop("manifest.json"))
    manifest(described)
    with tarfile.open(into, "w:gz") as tar:
        entries = {name: database(data) for name, data in files.items()}
        for name, data in {"manifest.json": json.dumps(described).encode(), **entries}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return into


def backup_here(tmp_path: Path) -> Path:
    out = io.StringIO()
    call_command("backup", output=tmp_path / "archives", stdout=out)
    (archive,) = (tmp_path / "archives").glob("roundtable-backup-*.tar.gz")
    return archive


# --- The round trip -------------------------------------------------------------------------


def test_a_backup_taken_while_people_post_and_edit_restores_a_consistent_installation(
    installation: Team, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    team = installation
    notes_id = team.workspace.documents.get(title="Notes").pk
    seed = _doc_of(notes_id)
    seed_text = str(seed.get(TEXT_NAME, type=pycrdt.Text))
    doc = _doc_of(notes_id)

    posting = Writer(
        lambda n: message_create(thread=team.thread, author=team.member, body=f"live {n}")
    )
    editing = Writer(
        lambda n: document_update_append(
            document_id=notes_id, update=_doc_append(doc, f"line {n}\n"), author=team.member,
            sender="t",
        )
    )  # fmt: skip
    posting.start()
    editing.start()
    try:
        posting.reach(5)
        editing.reach(5)
        before = (posting.done, editing.done)
        out = io.StringIO()
        call_command("backup", output=tmp_path / "archives", stdout=out)
        after = (posting.done, editing.done)
        posting.reach(after[0] + 5)
        editing.reach(after[1] + 5)
    finally:
        posting.finish()
        editing.finish()
    assert after[0] > before[0], "nobody posted during the backup"
    assert after[1] > before[1], "nobody edited during the backup"
    (archive,) = (tmp_path / "archives").glob("roundtable-backup-*.tar.gz")
    assert f"Backup written: {archive}" in out.getvalue()
    manifest = manifest_of(archive)

    target = fresh_database("restored")
    restore = manage("restore", str(archive), database_url=target, tmp_path=tmp_path)
    assert restore.returncode == 0, restore.stderr
    restored, live = contents_at(target, tmp_path), installation_contents()

    # What nobody touched during the backup comes back exactly.
    for key in ("users", "workspaces", "memberships", "threads", "versions", "sources", "chunks"):
        assert restored[key] == live[key], key
    # Messages: exactly those up to the newest restored one, none missing, none extra; the
    # backup holds what was posted before it began and not what was posted after it ended.
    newest = restored["messages"][-1]["id"]
    assert restored["messages"] == [m for m in live["messages"] if m["id"] <= newest]
    posted = [m for m in restored["messages"] if m["body"].startswith("live ")]
    assert before[0] <= len(posted) <= after[0]
    assert [m["body"] for m in posted] == [f"live {n}" for n in range(len(posted))]
    # Documents, read through their text reader: the edited one holds a whole prefix of the
    # lines written, the others their text.
    restored_docs = {d["id"]: d for d in restored["documents"]}
    for document in live["documents"]:
        if document["id"] != notes_id:
            assert restored_docs[document["id"]] == document
    notes_text = restored_docs[notes_id]["text"]
    lines = notes_text.removeprefix(seed_text).splitlines(keepends=True)
    assert notes_text.startswith(seed_text)
    assert lines == [f"line {n}\n" for n in range(len(lines))]
    assert before[1] <= len(lines) <= after[1]
    # The manifest's counts were read in the copy's own snapshot.
    for key in ("users", "workspaces", "threads", "messages", "documents", "sources"):
        assert manifest["counts"][key] == len(restored[key]), key
    assert f"now holds 3 users, 2 workspaces, 2 threads, {len(restored['messages'])} messages" in (
        restore.stdout
    )


def test_the_manifest_says_what_the_archive_holds_and_where_it_came_from(
    installation: Team, tmp_path: Path
) -> None:
    archive = backup_here(tmp_path)
    manifest = manifest_of(archive)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        database = tar.extractfile(names[1]).read()  # type: ignore[union-attr]
    assert names == ["manifest.json", manifest["database"]["file"]]
    assert manifest["format"] == "roundtable-backup"
    assert manifest["database"]["vendor"] == connection.vendor
    assert manifest["database"]["sha256"] == hashlib.sha256(database).hexdigest()
    assert manifest["app"]["version"]
    assert "0001_initial" in manifest["migrations"]["chat"]
    assert manifest["counts"]["sources"] == 2
    assert manifest["settings"]["embedding_model"]
    assert settings.SECRET_KEY not in json.dumps(manifest)


@pytest.mark.skipif(not ON_POSTGRES, reason="pg_dump's plain format: PostgreSQL only")
def test_a_plain_sql_dump_restores_as_well(
    installation: Team, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    call_command("backup", output=tmp_path / "plain", pg_format="plain", stdout=io.StringIO())
    (archive,) = (tmp_path / "plain").glob("*.tar.gz")
    assert manifest_of(archive)["database"]["file"] == "database.sql"
    target = fresh_database("plain")
    restore = manage("restore", str(archive), database_url=target, tmp_path=tmp_path)
    assert restore.returncode == 0, restore.stderr
    assert contents_at(target, tmp_path) == installation_contents()


def test_an_older_archive_is_migrated_to_this_code_after_it_is_restored(
    fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    old = fresh_database("old")
    for command in (("migrate", "-v0"), ("migrate", "api", "0001", "-v0")):
        assert manage(*command, database_url=old, tmp_path=tmp_path).returncode == 0
    backup = manage(
        "backup", "--output", str(tmp_path / "old"), database_url=old, tmp_path=tmp_path
    )
    assert backup.returncode == 0, backup.stderr
    (archive,) = (tmp_path / "old").glob("*.tar.gz")
    assert manifest_of(archive)["migrations"]["api"] == ["0001_initial"]

    target = fresh_database("migrated")
    restore = manage("restore", str(archive), database_url=target, tmp_path=tmp_path)
    assert restore.returncode == 0, restore.stderr
    assert "then applied 1 newer migrations" in restore.stdout
    check = manage("migrate", "--check", database_url=target, tmp_path=tmp_path)
    assert check.returncode == 0, check.stdout


def test_restoring_over_content_needs_force_and_backs_that_content_up_first(
    installation: Team, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    archive = backup_here(tmp_path)
    target = fresh_database("twice")
    assert manage("restore", str(archive), database_url=target, tmp_path=tmp_path).returncode == 0

    refused = manage("restore", str(archive), database_url=target, tmp_path=tmp_path)
    assert refused.returncode == 1
    assert "already holds 3 users, 2 workspaces, 5 messages, 2 documents, 2 sources" in (
        refused.stderr
    )
    assert "--force" in refused.stderr
    assert not (tmp_path / "child-backups").exists()

    forced = manage("restore", str(archive), "--force", database_url=target, tmp_path=tmp_path)
    assert forced.returncode == 0, forced.stderr
    (kept,) = (tmp_path / "child-backups").glob("roundtable-backup-*.tar.gz")
    assert f"what the database held before: {kept}" in forced.stdout
    assert manifest_of(kept)["counts"] == manifest_of(archive)["counts"]
    assert contents_at(target, tmp_path) == installation_contents()


# --- Bad input: a clear error, nothing changed ----------------------------------------------


@pytest.fixture
def archive(installation: Team, tmp_path: Path) -> Path:
    return backup_here(tmp_path)


def _refused(archive: Path, settings: Any) -> str:
    """Restore ``archive`` here, expecting a refusal that changes nothing; its message."""
    before = installation_contents()
    with pytest.raises(CommandError) as refusal:
        call_command("restore", str(archive), stdout=io.StringIO())
    assert installation_contents() == before
    assert not Path(settings.BACKUP_DIR).exists()  # not even a backup of what is here
    return str(refusal.value)


def test_a_file_that_is_not_an_archive_is_refused(
    archive: Path, tmp_path: Path, settings: Any
) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(4096))
    assert "is not a Roundtable backup: it is not a whole .tar.gz archive" in _refused(
        junk, settings
    )


def test_a_truncated_archive_is_refused(archive: Path, tmp_path: Path, settings: Any) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert "is not a whole .tar.gz archive" in _refused(cut, settings)


def test_another_programs_archive_is_refused(archive: Path, tmp_path: Path, settings: Any) -> None:
    foreign = tmp_path / "photos.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        for name, data in (("manifest.json", b'{"format": "photos"}'), ("cat.jpg", b"\xff\xd8")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert "is not a Roundtable backup: its manifest is another program's" in _refused(
        foreign, settings
    )
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        tar.add(__file__, arcname="test_backups.py")
    assert "is not a Roundtable backup" in _refused(other, settings)


def test_a_database_that_does_not_match_its_checksum_is_refused(
    archive: Path, tmp_path: Path, settings: Any
) -> None:
    def flip(data: bytes) -> bytes:
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]

    damaged = archive_rewrite(archive, tmp_path / "damaged.tar.gz", database=flip)
    message = _refused(damaged, settings)
    assert "is damaged: its database's checksum is" in message
    assert "Nothing was restored" in message


def test_an_archive_of_the_other_database_vendor_is_refused(
    archive: Path, tmp_path: Path, settings: Any
) -> None:
    other = "sqlite" if ON_POSTGRES else "postgresql"
    crossed = archive_rewrite(
        archive, tmp_path / "crossed.tar.gz",
        manifest=lambda m: m["database"].update(vendor=other),
    )  # fmt: skip
    assert "Restoring across database vendors is not supported" in _refused(crossed, settings)


def test_an_archive_from_a_newer_version_is_refused(
    archive: Path, tmp_path: Path, settings: Any
) -> None:
    newer = archive_rewrite(
        archive, tmp_path / "newer.tar.gz",
        manifest=lambda m: m["migrations"]["chat"].append("9999_from_the_future"),
    )  # fmt: skip
    message = _refused(newer, settings)
    assert "made by a newer Roundtable" in message
    assert "chat.9999_from_the_future" in message


def test_a_whole_archive_is_not_restored_over_an_installation_with_content(
    archive: Path, settings: Any
) -> None:
    message = _refused(archive, settings)
    assert "already holds 3 users, 2 workspaces" in message
    assert "pass --force" in message
