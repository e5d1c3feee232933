"""OpenAI-compatible completions in the model worker: a job's messages in, its text out as
events (``llm.completion_jobs``). Nothing of threads: the messages are the client's own."""

import logging

from django.conf import settings

from .completion_jobs import (
    CHUNK,
    DONE,
    ERROR,
    STARTED,
    CompletionJob,
    completion_job_take,
    completion_publish,
    completion_stop_requested,
)
from .model import LoadedModel, model_load, model_spec_from_settings
from .models import LanguageModel
from .services import language_model_ready, language_model_spec
from .streaming import BackgroundCalls, FramePacer, ThrottledPoll

logger = logging.getLogger(__name__)


class CompletionRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def completion_generate(*, job_id: str) -> None:
    """Run the job ``job_id`` unless it is gone (run already) or its client left."""
    job = completion_job_take(job_id)
    if job is None:
        logger.info("Completion %s is gone (done already, or expired)", job_id)
        return
    if completion_stop_requested(job_id):
        logger.info("Completion %s: its client left while it waited", job_id)
        return
    try:
        model = _model_for(job)
        prompt = model.messages_prompt_tokens(job.messages)
        max_tokens = _room_check(job, model, len(prompt))
    except CompletionRefused as exc:
        completion_publish(job_id, ERROR, status=exc.status, code=exc.code, message=exc.message)
        return
    completion_publish(job_id, STARTED, prompt_tokens=len(prompt))
    try:
        _generate(job, model, prompt, max_tokens)
    except Exception as exc:
        logger.exception("Completion %s failed", job_id)
        completion_publish(
            job_id, ERROR, status=500, code="generation_failed", message=f"{type(exc).__name__}"
        )


def _model_for(job: CompletionJob) -> LoadedModel:
    if job.model_id is None:
        spec = model_spec_from_settings()
    else:
        registered = LanguageModel.objects.filter(pk=job.model_id).first()
        if registered is None or not language_model_ready(model=registered):
            raise CompletionRefused(503, "model_unavailable", f"{job.model_name} is unavailable.")
        spec = language_model_spec(registered)
    try:
        return model_load(spec)
    except Exception as exc:
        logger.exception("Could not load %s", spec.path)
        raise CompletionRefused(
            503, "model_unavailable", f"{job.model_name} could not be loaded."
        ) from exc


def _room_check(job: CompletionJob, model: LoadedModel, prompt_tokens: int) -> int:
    """How many tokens the answer may have; refuses a request over the context window."""
    wanted = job.max_tokens or 1
    if prompt_tokens + wanted > model.n_ctx:
        asked = f" + max_tokens {job.max_tokens}" if job.max_tokens else ""
        raise CompletionRefused(
            400,
            "context_length_exceeded",
            f"This model's maximum context length is {model.n_ctx} tokens; your messages "
            f"are {prompt_tokens} tokens{asked}. Shorten the messages or max_tokens.",
        )
    return job.max_tokens or model.n_ctx - prompt_tokens


def _generate(job: CompletionJob, model: LoadedModel, prompt: list[int], max_tokens: int) -> None:
    sending = BackgroundCalls(name=f"completion-{job.id}-frames")
    try:
        _decode(job, model, prompt, max_tokens, sending)
    finally:
        sending.close()


def _decode(
    job: CompletionJob,
    model: LoadedModel,
    prompt: list[int],
    max_tokens: int,
    sending: BackgroundCalls,
) -> None:
    def frame(*, seq: int, delta: str, text: str, persist: bool) -> None:
        # The first chunk leaves from here (time to first token); later ones from the sender
        # thread, in order, so that publishing overlaps decoding, as for answers in threads.
        if seq == 1:
            completion_publish(job.id, CHUNK, seq=seq, delta=delta)
        else:
            sending.submit(lambda: completion_publish(job.id, CHUNK, seq=seq, delta=delta))

    pacer = FramePacer(
        sink=frame,
        frame_interval=settings.LLM_FRAME_INTERVAL_S,
        persist_interval=float("inf"),
    )
    stop_requested = ThrottledPoll(
        check=lambda: "stop" if completion_stop_requested(job.id) else None,
        interval=settings.LLM_STOP_POLL_S,
    )
    pieces, completion = model.stream(
        prompt,
        stop=job.stop,
        max_tokens=max_tokens,
        temperature=job.temperature,
        repeat_penalty=1.0,
        top_p=job.top_p,
    )
    cancelled = False
    for piece in pieces:
        pacer.add(piece)
        if stop_requested() is not None:
            cancelled = True
            break  # leaving the generator ends llama.cpp's decoding loop
    pacer.finish()
    sending.close()  # every chunk leaves before the end
    if cancelled:
        logger.info("Completion %s cancelled: its client left", job.id)
    completion_publish(
        job.id,
        DONE,
        finish_reason="cancelled" if cancelled else completion.finish_reason or "stop",
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
    )
