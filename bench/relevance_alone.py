"""Only relevant sources, measured on their own: no stack, no chat model, about a minute.

    python -m bench.relevance_alone

Migrates a fresh SQLite file under var/, reads both labelled corpora into it with the
configured embedder (``KNOWLEDGE_EMBEDDER=e5`` for the other), and prints the figures of
``bench.source_relevance`` as JSON.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

DATABASE = Path(__file__).resolve().parent.parent / "var" / "bench-relevance.sqlite3"


def main() -> dict[str, Any]:
    for suffix in ("", "-wal", "-shm"):
        DATABASE.with_name(DATABASE.name + suffix).unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from . import source_relevance

    call_command("migrate", verbosity=0)
    user = User.objects.create(username="bench-relevance")
    small = source_relevance.labelled_documents()
    return source_relevance.measure(
        small=source_relevance.corpus_make(small, added_by=user),
        both=source_relevance.corpus_make(
            small | source_relevance.varied_documents(), added_by=user
        ),
        model=source_relevance.BundledTokenizer(),
    )


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    print()
