"""Roundtable's project package: settings, URLs, ASGI and Celery entry points, the start-up
commands, and what spans every app (the workspace page, backups). No app imports it."""

from .celery import app as celery_app

__all__ = ["celery_app"]
