"""Roundtable project package: settings, ASGI/Celery entry points, and the Workspace app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
