"""Backing up a running installation into one archive, and restoring it into an empty one.

Everything Roundtable keeps lives in its database: accounts, workspaces, threads and messages,
documents (their Yjs snapshots, update logs and versions), sources with the files uploaded to
them, passages and their embeddings, API tokens, sessions. Redis holds only what is live or
short-lived (the channel layer, the task queues, streaming text, stop flags, rate counters,
presence), which the sweeps rebuild or end; model files are weights the installation is
pointed at, named in the manifest but not copied. So an archive is the database plus a
manifest:

    roundtable-backup-<UTC time>.tar.gz
        manifest.json       what it is, where it came from, the database file's sha256
        database.sqlite3    SQLite: a copy made with the online backup API, or
        database.dump       PostgreSQL: pg_dump's custom format (database.sql: plain)

Both copies are consistent while people keep writing: SQLite's backup runs in one step, one
read transaction that WAL lets writers work beside (a copy made in steps restarts whenever
another connection writes, so under steady writes it might never end); PostgreSQL's dump
runs in a snapshot this module exports from a repeatable-read transaction, in which the
manifest's counts and migrations are read too.

A restore reads the whole archive and checks it (manifest, checksum, database vendor,
migrations) before it touches the database; it refuses to replace a database that holds
content unless forced, and then first backs that content up.
"""

import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import tomllib
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.models import Model

from chat.models import Message, Thread
from documents.models import Document, DocumentUpdate
from knowledge.models import Source
from workspace.models import Workspace

FORMAT = "roundtable-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_MAX_BYTES = 1024 * 1024
PG_FORMATS = {"custom": "database.dump", "plain": "database.sql"}
SQLITE_FILE = "database.sqlite3"
CHUNK = 1024 * 1024

# What the manifest counts and the restore reports, in this order.
COUNTED: dict[str, Callable[[], type[Model]]] = {
    "users": get_user_model,
    "workspaces": lambda: Workspace,
    "threads": lambda: Thread,
    "messages": lambda: Message,
    "documents": lambda: Document,
    "document_updates": lambda: DocumentUpdate,
    "sources": lambda: Source,
}
# A database holding any of these holds someone's work: a restore never replaces it unasked.
CONTENT = ("users", "workspaces", "messages", "documents", "sources")

CONTENTS_NOTE = (
    "Everything Roundtable keeps is in the database: accounts, workspaces, threads, messages, "
    "documents (Yjs snapshots, update logs, versions), sources with their uploaded files, "
    "passages, tokens and sessions. Not included: model files (named under settings), and "
    "Redis, which holds only live state (queued tasks, streaming text, presence, rate counters)."
)

Progress = Callable[[str], None]


class BackupError(Exception):
    """Why a backup or restore could not be made, worded for the person running it."""


@dataclasses.dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    counts: dict[str, int]
    migrations_applied: int
    previous_backup: Path | None


def _quiet(_: str) -> None:
    pass


# --- Backup -----------------------------------------------------------------------------------


def backup_create(
    *, output: Path, pg_format: str = "custom", progress: Progress = _quiet
) -> BackupResult:
    """Write one archive of this installation's database and a manifest into ``output`` (a
    folder, or a file name ending in .tar.gz). Safe while the app runs and people write."""
    created = datetime.now(UTC)
    name = f"roundtable-backup-{created:%Y%m%dT%H%M%SZ}.tar.gz"
    path = output / name if output.is_dir() or not output.name.endswith(".tar.gz") else output
    path.parent.mkdir(parents=True, exist_ok=True)
    vendor = connection.vendor
    with tempfile.TemporaryDirectory(prefix="roundtable-backup-", dir=path.parent) as tmp:
        if vendor == "sqlite":
            database, snapshot = _sqlite_copy(Path(tmp), progress)
        elif vendor == "postgresql":
            if pg_format not in PG_FORMATS:
                raise BackupError(f"Unknown dump format {pg_format!r}: custom or plain.")
            database, snapshot = _postgres_dump(Path(tmp), pg_format, progress)
        else:
            raise BackupError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
        progress(f"Checksumming the database copy ({_mib(database.stat().st_size)})…")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "app": _app_version(),
            "database": {
                "vendor": vendor,
                "file": database.name,
                "dump_format": "sqlite" if vendor == "sqlite" else f"pg_dump-{pg_format}",
                "server_version": snapshot.server_version,
                "bytes": database.stat().st_size,
                "sha256": _sha256(database),
            },
            "migrations": snapshot.migrations,
            "counts": snapshot.counts,
            "settings": _settings_that_matter(),
            "contents": CONTENTS_NOTE,
        }
        partial = path.with_name(path.name + ".partial")
        try:
            _archive_write(partial, manifest, database, progress)
            partial.replace(path)  # a crash never leaves a plausible-looking archive
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(path=path, size=path.stat().st_size, manifest=manifest)


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    """What was read in the same consistent view as the copy."""

    counts: dict[str, int]
    migrations: dict[str, list[str]]
    server_version: str


def _sqlite_copy(tmp: Path, progress: Progress) -> tuple[Path, _Snapshot]:
    source_path = Path(connection.settings_dict["NAME"])
    if not source_path.is_file():
        raise BackupError(f"There is no SQLite database at {source_path}.")
    copy_path = tmp / SQLITE_FILE
    progress(f"Copying the SQLite database {source_path} ({_mib(source_path.stat().st_size)})…")
    started = time.monotonic()
    source = sqlite3.connect(source_path, timeout=60)
    copy = sqlite3.connect(copy_path)
    try:
        # One step (pages=-1): one read transaction, so writers go on and the copy never
        # restarts; in steps, any other connection's write would restart it.
        source.backup(copy, pages=-1)
    except sqlite3.Error as exc:
        raise BackupError(f"Copying the database failed: {exc}") from exc
    finally:
        source.close()
    try:
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        progress(f"  copied in {time.monotonic() - started:.1f} s")
        snapshot = _Snapshot(
            counts={key: _sqlite_count(copy, model()) for key, model in COUNTED.items()},
            migrations=_migrations_from(
                copy.execute("SELECT app, name FROM django_migrations").fetchall()
            ),
            server_version=f"SQLite {sqlite3.sqlite_version}",
        )
    finally:
        copy.close()
    return copy_path, snapshot


def _sqlite_count(db: sqlite3.Connection, model: type[Model]) -> int:
    table = model._meta.db_table.replace('"', '""')
    try:
        return int(db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])  # noqa: S608
    except sqlite3.OperationalError:  # not migrated that far
        return 0


def _postgres_dump(tmp: Path, pg_format: str, progress: Progress) -> tuple[Path, _Snapshot]:
    dump_path = tmp / PG_FORMATS[pg_format]
    _tool_check("pg_dump")
    # The dump and the manifest's counts share one snapshot, exported by a transaction that
    # stays open (and read-only) until pg_dump is done with it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
        snapshot_id, server_version = cursor.fetchone()
        counts = {key: model()._default_manager.count() for key, model in COUNTED.items()}
        cursor.execute("SELECT app, name FROM django_migrations")
        migrations = _migrations_from(cursor.fetchall())
        progress(f"Dumping the PostgreSQL database {connection.settings_dict['NAME']} (pg_dump)…")
        _run_tool(
            [
                "pg_dump",
                f"--format={pg_format}",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot_id}",
                f"--file={dump_path}",
            ],
            progress,
            growing=dump_path,
        )
    return dump_path, _Snapshot(
        counts=counts, migrations=migrations, server_version=f"PostgreSQL {server_version}"
    )


def _migrations_from(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in sorted(rows):
        applied.setdefault(app, []).append(name)
    return applied


def _app_version() -> dict[str, str | None]:
    with (settings.BASE_DIR / "pyproject.toml").open("rb") as file:
        version = tomllib.load(file)["project"]["version"]
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run = subprocess.run(
            ["git", "-C", str(settings.BASE_DIR), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if run.returncode == 0:
            commit = run.stdout.strip() or None
    return {"version": version, "git_commit": commit}


def _settings_that_matter() -> dict[str, Any]:
    """What a restorer needs to set up the same way; never a secret."""
    from knowledge.embedding import embedding_model_name
    from llm.model import model_spec_from_settings
    from llm.models import LanguageModel

    spec = model_spec_from_settings()
    return {
        "default_model": {"path": str(spec.path), "name": spec.name or spec.path.stem},
        "registered_models": [
            {"name": name, "path": path, "enabled": enabled}
            for name, path, enabled in LanguageModel.objects.values_list(
                "name", "path", "enabled"
            ).order_by("name")
        ],
        "embedding_model": embedding_model_name(),
        "assistant_name": settings.ASSISTANT_NAME,
        "time_zone": settings.TIME_ZONE,
        "knowledge_search_config": settings.KNOWLEDGE_SEARCH_CONFIG,
    }


def _archive_write(
    path: Path, manifest: dict[str, Any], database: Path, progress: Progress
) -> None:
    data = json.dumps(manifest, indent=2).encode()
    size = database.stat().st_size
    progress(f"Writing {path.name.removesuffix('.partial')} (compressing {_mib(size)})…")
    with tarfile.open(path, "w:gz", compresslevel=6) as archive:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
        archive.addfile(info, io.BytesIO(data))  # first, so a reader meets it first
        info = archive.gettarinfo(str(database), arcname=database.name)
        info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
        with database.open("rb") as file:
            archive.addfile(info, _ReadProgress(file, size, "  compressed", progress))


class _ReadProgress:
    """A file whose reads report how far they got, every 10 % and at most every 2 s."""

    def __init__(self, file: IO[bytes], size: int, label: str, progress: Progress) -> None:
        self.file, self.size, self.label, self.progress = file, max(size, 1), label, progress
        self.done, self.shown, self.shown_at = 0, 0, time.monotonic()

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(n)
        self.done += len(data)
        percent = 100 * self.done // self.size
        if percent >= self.shown + 10 and time.monotonic() - self.shown_at >= 2:
            self.shown, self.shown_at = percent, time.monotonic()
            self.progress(f"{self.label} {percent} %")
        return data


# --- Restore ----------------------------------------------------------------------------------


def backup_restore(
    *, archive: Path, force: bool = False, progress: Progress = _quiet
) -> RestoreResult:
    """Bring an archive into this installation's database, then migrate it to this code.

    Nothing is changed unless the archive is whole and fits: its checksum, its database vendor
    (SQLite into SQLite, PostgreSQL into PostgreSQL) and its migrations (none newer than this
    code). A database that holds content is replaced only with ``force``, after a backup of it.
    """
    if not archive.is_file():
        raise BackupError(f"There is no file {archive}.")
    with tempfile.TemporaryDirectory(prefix="roundtable-restore-") as tmp:
        # The manifest comes first in the archive: an archive that does not fit is refused
        # before its database is read.
        manifest, database = archive_unpack(
            archive, into=Path(tmp), manifest_check=_compatibility_check, progress=progress
        )
        previous = None
        present = database_counts()
        held = {key: present[key] for key in CONTENT if present.get(key)}
        foreign = _foreign_tables()
        if held or foreign:
            described = counts_phrase(held) if held else ""
            if foreign:
                described += (" and " if held else "") + (
                    f"tables that are not Roundtable's ({', '.join(foreign[:5])}"
                    f"{'…' if len(foreign) > 5 else ''}: is DATABASE_URL right?)"
                )
            if not force:
                raise BackupError(
                    f"This installation's database already holds {described}. A restore "
                    "replaces everything in it: restore into an empty installation, or pass "
                    "--force to replace it (a backup of it is written first). "
                    "Nothing was restored."
                )
            progress(f"The database holds {described}: backing it up before replacing it…")
            previous = backup_create(output=Path(settings.BACKUP_DIR), progress=progress).path
            progress(f"  kept in {previous}")
        if connection.vendor == "sqlite":
            _sqlite_load(database, progress)
        else:
            _postgres_load(database, manifest, progress)
        connections.close_all()
        migrations_applied = _migrate(progress)
        counts = database_counts()
    return RestoreResult(
        manifest=manifest,
        counts=counts,
        migrations_applied=migrations_applied,
        previous_backup=previous,
    )


def archive_unpack(
    archive: Path,
    *,
    into: Path,
    manifest_check: Callable[[dict[str, Any]], None] | None = None,
    progress: Progress = _quiet,
) -> tuple[dict[str, Any], Path]:
    """The archive's manifest (passed to ``manifest_check`` as soon as it is read), and its
    database file written into ``into`` once its checksum matches. Raises BackupError for
    anything that is not a whole Roundtable archive."""
    manifest: dict[str, Any] | None = None
    database: Path | None = None
    digest = hashlib.sha256()
    progress(f"Reading {archive.name} ({_mib(archive.stat().st_size)})…")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name == MANIFEST and member.isfile() and manifest is None:
                    if member.size > MANIFEST_MAX_BYTES:
                        raise _foreign(archive, "its manifest is too large")
                    manifest = _manifest_parse(archive, _member_read(tar, member))
                    if manifest_check:
                        manifest_check(manifest)
                    continue
                expected = manifest["database"]["file"] if manifest else None
                if member.name != expected or not member.isfile() or database is not None:
                    raise _foreign(archive, f"unexpected entry {member.name!r}")
                database = into / Path(member.name).name
                with _member_open(tar, member) as source, database.open("wb") as target:
                    reader = _ReadProgress(source, member.size, "  read", progress)
                    while chunk := reader.read(CHUNK):
                        digest.update(chunk)
                        target.write(chunk)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _foreign(archive, f"it is not a whole .tar.gz archive ({exc})") from exc
    if manifest is None:
        raise _foreign(archive, f"it has no {MANIFEST}")
    if database is None:
        raise BackupError(f"{archive} holds no database: it is incomplete.")
    expected_sha = manifest["database"].get("sha256")
    if digest.hexdigest() != expected_sha:
        raise BackupError(
            f"{archive} is damaged: its database's checksum is {digest.hexdigest()}, the "
            f"manifest says {expected_sha}. Nothing was restored."
        )
    if manifest["database"]["vendor"] == "sqlite":
        _sqlite_file_check(archive, database)
    return manifest, database


def _foreign(archive: Path, why: str) -> BackupError:
    return BackupError(f"{archive} is not a Roundtable backup: {why}. Nothing was restored.")


def _member_open(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    file = tar.extractfile(member)
    if file is None:
        raise tarfile.TarError(f"{member.name} cannot be read")
    return file


def _member_read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    with _member_open(tar, member) as file:
        return file.read()


def _manifest_parse(archive: Path, data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _foreign(archive, f"its manifest is not JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _foreign(archive, "its manifest is another program's")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{archive} is a Roundtable backup of format {manifest.get('format_version')}; "
            f"this version reads format {FORMAT_VERSION}. Nothing was restored."
        )
    database = manifest.get("database")
    if (
        not isinstance(database, dict)
        or database.get("file") not in {SQLITE_FILE, *PG_FORMATS.values()}
        or not isinstance(manifest.get("migrations"), dict)
    ):
        raise _foreign(archive, "its manifest does not describe a database")
    return manifest


def _sqlite_file_check(archive: Path, database: Path) -> None:
    try:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        result = str(exc)
    if result != "ok":
        raise BackupError(f"{archive}'s database is damaged ({result}). Nothing was restored.")


def _compatibility_check(manifest: dict[str, Any]) -> None:
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(
            f"This archive holds a {names.get(vendor, vendor)} database and this installation "
            f"uses {names.get(connection.vendor, connection.vendor)}. Restoring across database "
            f"vendors is not supported: restore it into a {names.get(vendor, vendor)} "
            "installation (DATABASE_URL). Nothing was restored."
        )
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    unknown = sorted(
        f"{app}.{name}"
        for app, names in manifest["migrations"].items()
        for name in names
        if (app, name) not in known
    )
    if unknown:
        made_by = manifest.get("app", {})
        raise BackupError(
            "This archive was made by a newer Roundtable "
            f"(version {made_by.get('version')}, commit {made_by.get('git_commit') or 'unknown'}):"
            f" this code lacks its migrations {', '.join(unknown[:5])}"
            f"{'…' if len(unknown) > 5 else ''}. Update the code, then restore. "
            "Nothing was restored."
        )


def database_counts() -> dict[str, int]:
    """How many of each counted thing the database holds (0 where its table is missing)."""
    tables = set(connection.introspection.table_names())
    return {
        key: model()._default_manager.count() if model()._meta.db_table in tables else 0
        for key, model in COUNTED.items()
    }


def _foreign_tables() -> list[str]:
    """Tables in the database that are neither a model's of this code nor another of its apps'
    (whose names start with the app's label: the full-text indexes that migrations make)."""
    ours = {model._meta.db_table for model in apps.get_models(include_auto_created=True)}
    ours.add("django_migrations")
    prefixes = tuple(f"{config.label}_" for config in apps.get_app_configs())
    return sorted(
        table
        for table in connection.introspection.table_names()
        if table not in ours and not table.startswith(prefixes)
    )


def _sqlite_load(database: Path, progress: Progress) -> None:
    target = Path(connection.settings_dict["NAME"])
    connections.close_all()
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"Writing the database into {target}…")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    destination = sqlite3.connect(target, timeout=60)
    try:
        # Through SQLite itself, so a WAL file beside the target is dealt with, not left stale;
        # out of WAL first, because a WAL database cannot take another page size.
        destination.execute("PRAGMA journal_mode=DELETE")
        source.backup(
            destination,
            pages=4096,
            progress=lambda _status, remaining, total: _steps(progress, remaining, total),
        )
        destination.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise BackupError(
            f"Writing {target} failed ({exc}). Stop Roundtable's processes (web, workers) "
            "before restoring."
        ) from exc
    finally:
        source.close()
        destination.close()


def _steps(progress: Progress, remaining: int, total: int) -> None:
    if total > 4096 * 4 and remaining:
        progress(f"  {100 * (total - remaining) // total} %")


def _postgres_load(database: Path, manifest: dict[str, Any], progress: Progress) -> None:
    tool = "pg_restore" if manifest["database"]["dump_format"] == "pg_dump-custom" else "psql"
    _tool_check(tool)
    _postgres_tables_drop(progress)
    connections.close_all()
    progress(f"Loading the database into {connection.settings_dict['NAME']} ({tool})…")
    name = connection.settings_dict["NAME"]
    if tool == "pg_restore":
        command = [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={name}",
            str(database),
        ]
    else:
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        command += [f"--dbname={name}", f"--file={database}"]
    _run_tool(command, progress)


def _postgres_tables_drop(progress: Progress) -> None:
    """Empty the current schema of the tables an earlier ``migrate`` made (the caller has made
    sure they hold no content, or kept a backup of it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
        tables = [row[0] for row in cursor.fetchall()]
        if not tables:
            return
        progress(f"Removing the {len(tables)} tables of the database being replaced…")
        quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
        cursor.execute(f"DROP TABLE {quoted} CASCADE")


def _migrate(progress: Progress) -> int:
    from django.core.management import call_command
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        progress(f"Applying the {len(plan)} migrations this archive predates…")
        call_command("migrate", interactive=False, verbosity=0)
    return len(plan)


# --- Helpers ----------------------------------------------------------------------------------


def _tool_check(tool: str) -> None:
    if shutil.which(tool) is None:
        raise BackupError(
            f"{tool} is not installed: install PostgreSQL's client tools (the package "
            "postgresql-client, of the server's major version or newer)."
        )


def _pg_environment() -> dict[str, str]:
    """libpq's variables for the configured database: the password never reaches argv."""
    config = connection.settings_dict
    env = dict(os.environ, PGAPPNAME="roundtable-backup")
    for variable, value in (
        ("PGHOST", config.get("HOST")),
        ("PGPORT", config.get("PORT")),
        ("PGUSER", config.get("USER")),
        ("PGPASSWORD", config.get("PASSWORD")),
        ("PGDATABASE", config.get("NAME")),
        ("PGSSLMODE", config.get("OPTIONS", {}).get("sslmode")),
    ):
        if value:
            env[variable] = str(value)
    return env


def _run_tool(command: list[str], progress: Progress, *, growing: Path | None = None) -> None:
    """Run a PostgreSQL client tool, saying every few seconds that it still works (and how
    large its output has grown); its error output becomes the BackupError's message."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command, env=_pg_environment(), stdout=subprocess.DEVNULL, stderr=errors
        )
        while process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            if process.returncode is None:
                grown = growing.stat().st_size if growing and growing.exists() else None
                written = f", {_mib(grown)} so far" if grown is not None else ""
                progress(f"  {command[0]}: {time.monotonic() - started:.0f} s{written}")
        if process.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[-2000:]
            raise BackupError(f"{command[0]} failed (exit {process.returncode}): {message}")
    progress(f"  {command[0]} done in {time.monotonic() - started:.1f} s")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def counts_phrase(counts: dict[str, int]) -> str:
    """``{"workspaces": 2, "messages": 1}`` as "2 workspaces, 1 message"."""
    words = ((count, name.replace("_", " ")) for name, count in counts.items())
    return ", ".join(
        f"{count} {name.removesuffix('s') if count == 1 else name}" for count, name in words
    )


def archive_describe(manifest: dict[str, Any]) -> Iterator[str]:
    """The manifest's main facts, one line each, for the commands' output."""
    app, database = manifest.get("app", {}), manifest["database"]
    yield f"made {manifest.get('created_at')} by Roundtable {app.get('version')}" + (
        f" ({app['git_commit'][:12]})" if app.get("git_commit") else ""
    )
    yield f"database: {database.get('server_version')}, {database.get('dump_format')}"
