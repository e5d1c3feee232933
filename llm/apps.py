from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "Language model"

    def ready(self) -> None:
        from jobs.kinds import job_kind_register

        from .completion_jobs import COMPLETION

        job_kind_register(COMPLETION)
