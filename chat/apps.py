from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from jobs.kinds import job_kind_register

        from .replies import ANSWER

        job_kind_register(ANSWER)
