from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Assistant answers"

    def ready(self) -> None:
        from jobs.kinds import job_kind_register

        from .catch_ups import CATCH_UP

        job_kind_register(CATCH_UP)
