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
        # After every migrate (see search/fulltext.py). Django sends post_migrate once for each
        # app with models, and this one has none: so it listens to every app's, each check
        # being one read of SQLite's catalogue.
        post_migrate.connect(_indexes_ensure, dispatch_uid="search.fulltext")
