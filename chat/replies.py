"""The assistant's side of a thread: a reply's life from queued to done or failed.

Called by the generation service (in the worker). Each function writes, then broadcasts.
"""

from django.utils import timezone

from . import events
from .models import Message


def reply_start(*, reply: Message, model_name: str) -> bool:
    """Move a queued reply to streaming. False if it is not queued (e.g. a task run twice)."""
    started = Message.objects.filter(pk=reply.pk, status=Message.Status.QUEUED).update(
        status=Message.Status.STREAMING, model_name=model_name, updated_at=timezone.now()
    )
    if not started:
        return False
    reply.refresh_from_db()
    events.broadcast_message_changed(reply)
    return True


def reply_frame(*, reply: Message, text: str, seq: int, delta: str, persist: bool) -> None:
    """Send frame ``seq``; when ``persist``, first save the text so far (a reload shows it)."""
    reply.body = text
    reply.last_seq = seq
    if persist:
        reply.save(update_fields=["body", "last_seq", "updated_at"])
    events.broadcast_frame(reply, seq=seq, delta=delta)


def reply_finish(
    *,
    reply: Message,
    text: str,
    seq: int,
    stop_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    time_to_first_token_ms: float | None,
    tokens_per_second: float | None,
) -> None:
    reply.body = text
    reply.last_seq = seq
    reply.status = Message.Status.DONE
    reply.stop_reason = stop_reason
    reply.prompt_tokens = prompt_tokens
    reply.completion_tokens = completion_tokens
    reply.time_to_first_token_ms = time_to_first_token_ms
    reply.tokens_per_second = tokens_per_second
    reply.finished_at = timezone.now()
    reply.save()
    events.broadcast_message_changed(reply)


def reply_fail(*, reply: Message, text: str, seq: int, reason: str) -> None:
    """End a reply as failed, keeping whatever text was generated."""
    Message.objects.filter(pk=reply.pk).update(
        body=text,
        last_seq=seq,
        status=Message.Status.FAILED,
        error=reason,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    reply.refresh_from_db()
    events.broadcast_message_changed(reply)
