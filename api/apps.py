from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API for scripts and tools"

    def ready(self) -> None:
        from jobs.kinds import job_kind_register

        from .completion_jobs import COMPLETION

        job_kind_register(COMPLETION)
