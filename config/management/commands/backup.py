from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.backups import (
    PG_FORMATS,
    BackupError,
    archive_describe,
    backup_create,
    counts_phrase,
)


class Command(BaseCommand):
    help = (
        "Write one archive (.tar.gz) of this installation: its database, which holds every "
        "workspace, message, document and uploaded file, and a manifest. Safe while the app "
        "runs. Restore it with `manage.py restore <archive>`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help="A folder (the archive is named roundtable-backup-<UTC time>.tar.gz) or a "
            "file name ending in .tar.gz. Default: BACKUP_DIR (var/backups).",
        )
        parser.add_argument(
            "--pg-format",
            choices=sorted(PG_FORMATS),
            default="custom",
            help="PostgreSQL only: pg_dump's custom format (default) or plain SQL.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbose = options["verbosity"] >= 1
        try:
            result = backup_create(
                output=options["output"] or Path(settings.BACKUP_DIR),
                pg_format=options["pg_format"],
                progress=self.stdout.write if verbose else lambda _: None,
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if not verbose:
            return
        counts = result.manifest["counts"]
        size = f"{result.size / 1024 / 1024:.1f} MiB"
        self.stdout.write(self.style.SUCCESS(f"Backup written: {result.path} ({size})"))
        for line in archive_describe(result.manifest):
            self.stdout.write(f"  {line}")
        self.stdout.write("  holds " + counts_phrase(counts))
        self.stdout.write(f"  database sha256 {result.manifest['database']['sha256']}")
