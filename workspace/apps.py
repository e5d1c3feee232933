from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - tells sockets when someone's membership changes
