from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _indexes_ensure(using: str, **kwargs: Any) -> None:
    from django.db import connections

    from .fulltext import INDEXES

    for index in INDEXES:
        index.ensure(connections[using])


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        # Once per migrate, after every app's migrations (see search/fulltext.py).
        post_migrate.connect(_indexes_ensure, sender=self)
