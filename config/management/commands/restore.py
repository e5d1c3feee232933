from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.backups import BackupError, archive_describe, backup_restore, counts_phrase


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup` into this installation's database "
        "(SQLite into SQLite, PostgreSQL into PostgreSQL), then apply the migrations it "
        "predates. Stop Roundtable's processes first. Refuses a database that holds content "
        "unless --force, which backs that content up before replacing it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path)
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace a database that already holds content (after backing it up).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbose = options["verbosity"] >= 1
        try:
            result = backup_restore(
                archive=options["archive"],
                force=options["force"],
                progress=self.stdout.write if verbose else lambda _: None,
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if not verbose:
            return
        self.stdout.write(self.style.SUCCESS(f"Restored {options['archive']}"))
        for line in archive_describe(result.manifest):
            self.stdout.write(f"  {line}")
        if result.migrations_applied:
            self.stdout.write(f"  then applied {result.migrations_applied} newer migrations")
        self.stdout.write("  now holds " + counts_phrase(result.counts))
        if result.counts != result.manifest["counts"]:
            self.stdout.write(
                self.style.WARNING(f"  the archive's manifest counted {result.manifest['counts']}")
            )
        if result.previous_backup:
            self.stdout.write(f"  what the database held before: {result.previous_backup}")
