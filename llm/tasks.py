"""Celery tasks of the model worker (queue ``llm``)."""

from celery import shared_task

from .generation import reply_generate


@shared_task(name="llm.generate_reply", ignore_result=True)
def generate_reply(reply_id: int) -> None:
    """Generate an assistant reply. Safe to run twice: only a queued reply is generated."""
    reply_generate(reply_id=reply_id)
