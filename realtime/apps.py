from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time core"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the account receivers
