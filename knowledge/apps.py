from django.apps import AppConfig
from django.db.models.signals import post_migrate


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge"

    def ready(self) -> None:
        from .fulltext import fulltext_ensure_after_migrate

        # Once per migrate, after every app's migrations (see knowledge/fulltext.py).
        post_migrate.connect(fulltext_ensure_after_migrate, sender=self)
