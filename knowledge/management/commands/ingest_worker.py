import os
import sys

from django.core.management.base import BaseCommand, CommandParser

from knowledge.workers import ingest_worker_args


class Command(BaseCommand):
    help = (
        "Become the ingest worker: Celery on the ingest queue, reading "
        "KNOWLEDGE_INGEST_CONCURRENCY sources at once, one a thread."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default="warning", help="Celery's log level.")

    def handle(self, *args: object, loglevel: str, **options: object) -> None:
        argv = [sys.executable, "-m", *ingest_worker_args(log_level=loglevel)]
        os.execv(argv[0], argv)  # noqa: S606 - become the worker, so signals reach it
