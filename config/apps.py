from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package as an app, for its start-up and backup commands."""

    name = "config"
    verbose_name = "Roundtable"
