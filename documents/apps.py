from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"

    def ready(self) -> None:
        from jobs.kinds import job_kind_register

        from .writes import DOCUMENT_WRITE

        job_kind_register(DOCUMENT_WRITE)
