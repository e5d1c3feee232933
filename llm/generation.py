"""Generating the assistant's reply in a thread: prompt, stream, frames, final record."""

import logging
import time

from django.conf import settings

from chat.models import Message
from chat.replies import (
    ReplyNoLongerStreaming,
    reply_fail,
    reply_finish,
    reply_frame_send,
    reply_progress_record,
    reply_start,
)
from chat.streaming_state import stop_request_get

from .model import LoadedModel, model_load, model_spec_from_settings
from .prompt import Turn, fit_turns, stop_strings
from .streaming import BackgroundCalls, FramePacer, ThrottledPoll

logger = logging.getLogger(__name__)


def reply_generate(*, reply_id: int) -> None:
    """Generate the queued assistant message ``reply_id``; a no-op unless it is still queued."""
    reply = Message.objects.select_related("thread").filter(pk=reply_id).first()
    if reply is None:
        logger.info("Reply %s no longer exists: nothing to do", reply_id)
        return
    if reply.status != Message.Status.QUEUED:
        logger.info("Reply %s is %s, not queued: nothing to do", reply_id, reply.status)
        return
    try:
        model = model_load(model_spec_from_settings())
    except Exception as exc:
        logger.exception("Could not load the model")
        reply_fail(reply=reply, text="", seq=0, reason=f"The model could not be loaded ({exc}).")
        return
    if not reply_start(reply=reply, model_name=model.name):
        return
    sending = BackgroundCalls(name=f"reply-{reply_id}-frames")

    def frame(*, seq: int, delta: str, text: str, persist: bool) -> None:
        # Saved here, in order and in this thread's transaction. The first frame is also sent
        # from here: handing it over would cost time to first token (GIL hand-offs, 5-8 ms).
        snapshot = reply_progress_record(reply=reply, text=text, seq=seq, persist=persist)
        if seq == 1:
            reply_frame_send(frame=snapshot, delta=delta)
        else:
            sending.submit(lambda: reply_frame_send(frame=snapshot, delta=delta))

    pacer = FramePacer(
        sink=frame,
        frame_interval=settings.LLM_FRAME_INTERVAL_S,
        persist_interval=settings.LLM_PERSIST_INTERVAL_S,
    )
    try:
        _stream_into(pacer, sending, reply=reply, model=model)
    except ReplyNoLongerStreaming:
        logger.warning("Reply %s was ended elsewhere; this attempt stops", reply_id)
    except Exception as exc:
        logger.exception("Generation failed for reply %s", reply_id)
        pacer.finish()
        sending.close()
        reply_fail(reply=reply, text=pacer.text, seq=pacer.seq, reason=_reason(exc))
    finally:
        sending.close()


def _stream_into(
    pacer: FramePacer, sending: BackgroundCalls, *, reply: Message, model: LoadedModel
) -> None:
    turns = _thread_turns(reply)
    # replace, not format: a prompt may contain other braces.
    system = settings.LLM_SYSTEM_PROMPT.replace("{name}", settings.ASSISTANT_NAME)
    answer_room = min(settings.LLM_MAX_TOKENS, model.n_ctx // 2)

    def prompt_for(kept: list[Turn] | tuple[Turn, ...]) -> list[int]:
        return model.prompt_tokens(
            system=system, turns=kept, assistant_name=settings.ASSISTANT_NAME
        )

    kept = fit_turns(
        turns, fits=lambda kept: len(prompt_for(list(kept))) + answer_room <= model.n_ctx
    )
    prompt = prompt_for(kept)
    speakers = {turn.speaker for turn in turns if not turn.is_assistant}
    started = time.monotonic()
    pieces, completion = model.stream(
        prompt,
        stop=stop_strings(speakers=speakers),
        max_tokens=min(settings.LLM_MAX_TOKENS, model.n_ctx - len(prompt)),
        temperature=settings.LLM_TEMPERATURE,
        repeat_penalty=settings.LLM_REPEAT_PENALTY,
    )
    stop_requested = ThrottledPoll(
        check=lambda: stop_request_get(reply.pk), interval=settings.LLM_STOP_POLL_S
    )
    for piece in pieces:
        pacer.add(piece)
        if stop_requested():
            break  # leaving the generator ends llama.cpp's decoding loop
    pacer.finish()
    ended = time.monotonic()
    sending.close()  # every frame leaves before the final status
    first = pacer.first_piece_at
    streaming_s = ended - first if first is not None else 0.0
    reply_finish(
        reply=reply,
        text=pacer.text,
        seq=pacer.seq,
        status=Message.Status.STOPPED if stop_requested.answer else Message.Status.DONE,
        stop_reason=stop_requested.answer or completion.finish_reason or "stop",
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        time_to_first_token_ms=(first - started) * 1000 if first is not None else None,
        tokens_per_second=completion.completion_tokens / streaming_s if streaming_s > 0 else None,
    )


def _thread_turns(reply: Message) -> list[Turn]:
    """The thread up to the reply, newest last, as the model should read it.

    Earlier answers to the same question (when this is a retry) are left out.
    """
    messages = (
        Message.objects.filter(thread_id=reply.thread_id, id__lt=reply.pk)
        .exclude(body="")
        .exclude(role=Message.Role.ASSISTANT, in_reply_to_id=reply.in_reply_to_id)
        .select_related("author")
        .order_by("-id")[: settings.LLM_HISTORY_MESSAGES]
    )
    return [
        Turn(speaker=message.speaker_name, text=message.body, is_assistant=message.is_assistant)
        for message in reversed(messages)
    ]


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
