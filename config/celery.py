"""The Celery application. Workers that own the model consume the ``llm`` queue."""

import os

from celery import Celery
from celery.signals import worker_init

from .allocator import large_blocks_unmapped_when_freed
from .stacks import stacks_on_signal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("roundtable")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _worker_process_set_up(**_: object) -> None:
    stacks_on_signal()
    large_blocks_unmapped_when_freed()
