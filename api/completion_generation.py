"""OpenAI-compatible completions as model jobs: a job's messages in, its text out as events
(``api.completion_jobs``). Nothing of threads: the messages are the client's own."""

import logging
from collections.abc import Callable

from django.conf import settings

from jobs.models import ModelJob
from jobs.runner import Frame, JobRefused, ModelUnavailable, Outcome, model_job_run
from jobs.services import (
    job_end,
    job_end_stopped_or_done,
    job_progress,
    job_start,
    job_stop_requested,
)
from llm.inference import ModelPrompt
from llm.model import LoadedModel

from .completion_jobs import (
    CompletionChunk,
    CompletionDone,
    CompletionError,
    CompletionRequest,
    CompletionStarted,
    completion_publish,
    completion_request_take,
)

logger = logging.getLogger(__name__)


def completion_generate(*, job_id: int) -> None:
    """Run the completion job ``job_id`` unless it is not queued (run already, or its client
    left) or its request is gone (expired)."""
    job = ModelJob.objects.filter(pk=job_id, status=ModelJob.Status.QUEUED).first()
    request = completion_request_take(job_id) if job is not None else None
    if job is None or request is None:
        logger.info("Completion %s is not waiting to run: nothing to do", job_id)
        return
    model_job_run(ChatCompletion(job, request))


class ContextExceeded(JobRefused):
    """The messages and the answer asked for do not fit the model's context."""


class ChatCompletion:
    """An OpenAI-compatible chat completion, as a model job: its events go to its topic."""

    def __init__(self, job: ModelJob, request: CompletionRequest) -> None:
        self.job, self.request = job, request
        self.name = f"completion-{job.pk}"
        self.model_id = request.model_id
        self.frame_interval = settings.LLM_FRAME_INTERVAL_S

    def begin(self, model: LoadedModel, *, model_name: str) -> ModelPrompt | None:
        request = self.request
        tokens = model.messages_prompt_tokens(request.messages)
        wanted = request.max_tokens or 1
        if len(tokens) + wanted > model.n_ctx:
            asked = f" + max_tokens {request.max_tokens}" if request.max_tokens else ""
            raise ContextExceeded(
                f"This model's maximum context length is {model.n_ctx} tokens; your messages "
                f"are {len(tokens)} tokens{asked}. Shorten the messages or max_tokens."
            )
        if not job_start(self.job):
            return None
        completion_publish(self.job.pk, CompletionStarted(prompt_tokens=len(tokens)))
        return ModelPrompt(
            tokens=tokens,
            max_tokens=request.max_tokens or model.n_ctx - len(tokens),
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop,
        )

    def frame(self, frame: Frame) -> Callable[[], None]:
        chunk = CompletionChunk(seq=frame.seq, delta=frame.delta)
        return lambda: completion_publish(self.job.pk, chunk)

    def save(self, frame: Frame) -> None:
        job_progress(self.job, seq=frame.seq)

    def stop_requested(self) -> str | None:
        return job_stop_requested(self.job.pk)

    def end(self, outcome: Outcome) -> None:
        result = outcome.result
        job_end_stopped_or_done(self.job, also=None, last_seq=outcome.seq, **outcome.figures())
        cancelled = self.job.status == ModelJob.Status.STOPPED
        if cancelled:
            logger.info("Completion %s cancelled: its client left", self.job.pk)
        done = CompletionDone(
            finish_reason="cancelled" if cancelled else result.finish_reason,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
        )
        completion_publish(self.job.pk, done)

    def fail(self, *, text: str, seq: int, error: BaseException) -> None:
        """The client is told why in OpenAI's terms; what broke inside stays in the log."""
        if isinstance(error, ContextExceeded):
            status, code, message = 400, "context_length_exceeded", str(error)
        elif isinstance(error, ModelUnavailable):
            status, code = 503, "model_unavailable"
            message = f"{self.request.model_name} is unavailable."
        else:
            status, code, message = 500, "generation_failed", type(error).__name__
        job_end(self.job, status=ModelJob.Status.FAILED, error=str(error)[:500], last_seq=seq)
        completion_publish(self.job.pk, CompletionError(status=status, code=code, message=message))

    def leave(self) -> None:
        pass
