from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time core"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the account receivers

        # Every app's events module: each event type is registered in every process.
        autodiscover_modules("events")
