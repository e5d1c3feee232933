"""The assistant's side of a thread: a reply's life from queued to done, stopped or failed.

The generation service (in the worker) moves a reply along; members may stop it. Each function
writes, then broadcasts.
"""

from django.contrib.auth.models import User
from django.utils import timezone

from . import events
from .models import Message
from .streaming_state import (
    live_text_set,
    stop_request_set,
    streaming_state_clear,
)


def reply_start(*, reply: Message, model_name: str) -> bool:
    """Move a queued reply to streaming. False if it is not queued (e.g. a task run twice)."""
    if reply.status != Message.Status.QUEUED:
        return False
    # Clear what a lost attempt left; a stop asked for from here on is kept, since while
    # queued it is handled in the database and the update below then fails.
    streaming_state_clear(reply.pk)
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
    live_text_set(reply_id=reply.pk, seq=seq, text=text)
    events.broadcast_frame(reply, seq=seq, delta=delta)


def reply_stop(*, reply: Message, by: User) -> bool:
    """A member stops a reply. False if it had already ended.

    A queued reply is stopped here and never generated. A streaming one is flagged in the
    shared cache; the worker sees the flag between tokens and ends the reply as stopped,
    keeping its text, whichever web replica took the request.
    """
    reason = f"stopped by {by.get_username()}"
    cancelled = Message.objects.filter(pk=reply.pk, status=Message.Status.QUEUED).update(
        status=Message.Status.STOPPED,
        stop_reason=reason,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    reply.refresh_from_db()
    if cancelled:
        events.broadcast_message_changed(reply)
        return True
    if reply.status != Message.Status.STREAMING:
        return False
    stop_request_set(reply_id=reply.pk, reason=reason)
    return True


def reply_finish(
    *,
    reply: Message,
    text: str,
    seq: int,
    status: Message.Status,
    stop_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    time_to_first_token_ms: float | None,
    tokens_per_second: float | None,
) -> None:
    reply.body = text
    reply.last_seq = seq
    reply.status = status
    reply.stop_reason = stop_reason
    reply.prompt_tokens = prompt_tokens
    reply.completion_tokens = completion_tokens
    reply.time_to_first_token_ms = time_to_first_token_ms
    reply.tokens_per_second = tokens_per_second
    reply.finished_at = timezone.now()
    reply.save()
    streaming_state_clear(reply.pk)
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
    streaming_state_clear(reply.pk)
    events.broadcast_message_changed(reply)
